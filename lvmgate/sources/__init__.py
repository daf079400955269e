"""Artifact sources for the gates, one module per plan section family; each module registers its
sources with `lvmgate.artifacts.register`. Adding a gate's artifact never touches the plugin."""
