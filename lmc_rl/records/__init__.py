"""A run's records: folder layout and file names, reading a run back, atomic files, provenance.
May import: config.
"""
