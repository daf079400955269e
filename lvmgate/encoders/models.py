"""Model-backed encoders (minilm, gtr, vec2text-gtr): placeholder until the model loaders land."""
