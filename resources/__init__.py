"""Data shipped with Lookalike: the default model bundle, icons, desktop metadata."""
from importlib import resources as _resources


def default_model_dir():
    """Path of the built-in default model bundle."""
    return _resources.files(__name__) / "models" / "default"
