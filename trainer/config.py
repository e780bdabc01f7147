"""Configuration: defaults from default.toml, a user TOML on top, KEY=VALUE overrides last."""
from __future__ import annotations

import copy

try:
    import tomllib
except ModuleNotFoundError:      # Python 3.10: the same parser as the tomli package
    import tomli as tomllib
from pathlib import Path

DEFAULT = Path(__file__).with_name("default.toml")


def _merge(base: dict, over: dict, where=""):
    for k, v in over.items():
        if k not in base:
            raise KeyError(f"unknown config key {where}{k}")
        if isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise ValueError(f"{where}{k} must be a table")
            _merge(base[k], v, f"{where}{k}.")
        else:
            base[k] = type(base[k])(v) if not isinstance(base[k], bool) else bool(v)


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path=None, overrides=(), base=DEFAULT) -> dict:
    """`base` (default.toml, or another recipe's defaults), then `path`, then KEY=VALUE."""
    cfg = tomllib.loads(Path(base).read_text(encoding="utf-8"))
    if path:
        _merge(cfg, tomllib.loads(Path(path).read_text(encoding="utf-8")))
    for item in overrides:
        key, _, val = item.partition("=")
        node = {}
        cur = node
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = _parse_value(val.strip())
        _merge(cfg, node)
    return copy.deepcopy(cfg)


def dump_toml(cfg: dict) -> str:
    """Minimal TOML writer for the flat tables used here."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        s = str(v).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'
    lines = [f"{k} = {val(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"
