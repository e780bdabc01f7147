"""Lookalike's engine: discovery, decoding, embedding, catalog, index and grouping.

No Qt, no torch: the desktop app and the trainer stand on this package, never the reverse.
"""
__version__ = "0.1.0"
