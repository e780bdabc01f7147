"""Lookalike's front ends: the command line (`cli`, no Qt) and the desktop window (PySide6)."""
