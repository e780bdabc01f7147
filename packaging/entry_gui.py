"""Frozen entry point of the `lookalike-gui` desktop app (PyInstaller)."""
import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from lookalike.app.main import run
    run()
