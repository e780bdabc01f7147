"""Settings of the desktop app: a small JSON file in the platformdirs config dir.

`LOOKALIKE_CONFIG_DIR` overrides the folder (tests point it, or XDG_CONFIG_HOME, at a
temporary one). The file carries a schema version; unknown keys are ignored and a broken
file falls back to the defaults (it is rewritten on the next save), so a crash while writing
never leaves the app unable to start. Writes are atomic (temporary file, then rename).
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ENV_CONFIG_DIR = "LOOKALIKE_CONFIG_DIR"
ENV_THUMB_CACHE = "LOOKALIKE_THUMB_CACHE"
THEMES = ("system", "dark", "light")


def config_dir() -> Path:
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_config_dir("lookalike", appauthor=False))


def default_thumb_cache_dir() -> Path:
    env = os.environ.get(ENV_THUMB_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_cache_dir("lookalike", appauthor=False)) / "thumbnails"


@dataclass
class Settings:
    library_dir: str | None = None       # None: $LOOKALIKE_LIBRARY or the user data dir
    model_dir: str | None = None         # None: the library's model, else the built-in one
    face_mode: bool = False              # embed the largest face instead of the whole photo
    theme: str = "system"
    thumb_cache_dir: str | None = None   # None: $LOOKALIKE_THUMB_CACHE or the user cache dir
    threshold: float | None = None       # None: the model's "duplicate" threshold
    rule: str = "highest_resolution"
    geometry: str = ""                   # window geometry (hex of QByteArray)
    recent_move_dir: str = ""
    path: Path | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, path=None) -> "Settings":
        path = Path(path) if path else config_dir() / "gui.json"
        s = cls(path=path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return s
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return s
        if not isinstance(doc, dict) or int(doc.get("schema_version", 0) or 0) > SCHEMA_VERSION:
            log.warning("ignoring settings %s written by a newer Lookalike", path)
            return s
        known = {f.name: f for f in fields(cls) if f.name != "path"}
        for k, v in doc.items():
            if k in known:
                setattr(s, k, v)
        if s.theme not in THEMES:
            s.theme = "system"
        return s

    def save(self) -> None:
        path = self.path or config_dir() / "gui.json"
        self.path = path
        doc = {k: v for k, v in asdict(self).items() if k != "path"}
        doc["schema_version"] = SCHEMA_VERSION
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot save settings to %s: %s", path, exc)

    def thumb_dir(self) -> Path:
        return Path(self.thumb_cache_dir).expanduser() if self.thumb_cache_dir else default_thumb_cache_dir()
