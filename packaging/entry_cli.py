"""Frozen entry point of the `lookalike` command (PyInstaller)."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from lookalike.app.cli import main
    sys.exit(main())
