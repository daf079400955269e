"""Metrics, one module per metric family; each a plain function over arrays returning a frozen result."""
