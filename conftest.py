"""Top-level conftest: keeps the repository root importable for `pytest gates/...` from a checkout."""
