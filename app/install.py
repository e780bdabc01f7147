"""How this copy of Lookalike was installed, and so how to add the trainer to it.

Lookalike is not published on PyPI: `pip install 'lookalike[train]'` cannot resolve. A pip
install records where it came from (PEP 610 `direct_url.json`); the hint names that folder.
"""
from __future__ import annotations

import json
import shlex
import sys
from importlib import metadata
from urllib.parse import unquote, urlparse

BUNDLE_TRAIN_HINT = ("this self-contained build has no PyTorch: retraining needs the pip install "
                     "(in a Lookalike checkout: python3 -m venv .venv && . .venv/bin/activate && "
                     "pip install '.[train]'); a model trained there works here (Settings → Model, "
                     "or --model DIR)")


def _origin():
    """(source folder or None, editable) of the installed `lookalike` distribution."""
    # a stale `lookalike.egg-info` in the working folder can shadow pip's record: take the
    # first copy that has one
    texts = [d.read_text("direct_url.json") for d in metadata.distributions(name="lookalike")]
    text = next((t for t in texts if t), None)
    if not text:
        return None, False
    try:
        info = json.loads(text)
    except ValueError:
        return None, False
    url = urlparse(info.get("url", ""))
    if url.scheme != "file" or "dir_info" not in info:
        return None, False
    return unquote(url.path), bool(info["dir_info"].get("editable"))


def train_install_command(origin=_origin, executable: str | None = None) -> str:
    """The pip command that adds the `train` extra to this installation."""
    folder, editable = origin()
    python = shlex.quote(executable or sys.executable)
    target = shlex.quote(f"{folder}[train]") if folder else "'.[train]'"
    cmd = f"{python} -m pip install {'-e ' if editable else ''}{target}"
    return cmd if folder else f"{cmd}   (in the Lookalike source folder)"


def train_hint(frozen: bool | None = None, origin=_origin) -> str:
    """What to tell a user who wants to retrain, for the way this copy was installed."""
    if getattr(sys, "frozen", False) if frozen is None else frozen:
        return BUNDLE_TRAIN_HINT
    return f"training needs PyTorch: install it with  {train_install_command(origin)}"
