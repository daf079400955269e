"""Reports: plots (PNG, embedded in the pytest-html report), the markdown phase report, JSON."""
