"""Configuration: the typed run config (the one place defaults live), flags, YAML, tasks, errors.
May import: nothing else of lmc_rl (the first of the layers; see lmc_rl/__init__.py).
"""
