"""Lookalike's trainer: metric learning for the duplicate-photo embedding (PyTorch).

Run it as ``python -m lookalike.trainer DATA --out DIR``; see ``trainer/README.md``.
Only this package imports torch; the engine (``lookalike.core``) never does.
"""
__version__ = "0.1.0"
