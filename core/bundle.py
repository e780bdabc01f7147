"""Model bundles: a folder with `model.onnx` and `model.json` (see DESIGN.md).

The manifest's thresholds are match scores (0-100, cosine x 100), the same unit as the
slider and `--threshold`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


class BundleError(Exception):
    """A model bundle is missing, incomplete or corrupt; the message names the path."""


VIEWS = ("as-is", "equalized")   # how a picture can be shown to the model (model.json "input" "views")


@dataclass(frozen=True)
class InputSpec:
    size: tuple[int, int] = (224, 224)              # (H, W)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    views: tuple[str, ...] = ("as-is",)             # a photo's embedding: the mean of these views' vectors
    scene_views: tuple[str, ...] = ()               # a second vector for the similar tier: the mean of these
                                                    # views' vectors from the same forward pass; () none

    @property
    def all_views(self) -> tuple[str, ...]:
        """The views the model runs on: the copy vector's, then the scene vector's others."""
        return self.views + tuple(v for v in self.scene_views if v not in self.views)


@dataclass
class Bundle:
    path: Path
    name: str
    version: str
    input: InputSpec
    embedding_dim: int
    preprocess: str                      # "whole" or "face"
    thresholds: dict = field(default_factory=lambda: {"duplicate": 90.0, "similar": 80.0})
    metrics: dict = field(default_factory=dict)
    trained_on: str = ""
    model_id: str = ""                   # SHA-256 of model.onnx
    matches: str = "copies"              # "copies": the same picture; "subjects": the same person/thing
    title: str = ""                      # the name a person reads (model.json "title")

    @property
    def display_name(self) -> str:
        """model.json's "title", else the bundle's folder name (what its owner called it), else
        the internal name."""
        return self.title or self.path.name or self.name
    check_band: tuple[float, float] | None = None   # scores [low, high) the geometric check decides

    @property
    def geometric_check(self) -> bool:
        """Whether the engine's geometric check (core.verify) applies: a model that matches
        copies of a picture, on whole photos. A model trained on labelled subjects (or faces)
        matches different photos of one subject, which the check would wrongly refute."""
        return self.matches == "copies" and self.preprocess == "whole"

    @property
    def onnx_path(self) -> Path:
        return self.path / "model.onnx"

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "id": self.model_id,
                "path": str(self.path), "preprocess": self.preprocess,
                "embedding_dim": self.embedding_dim, "matches": self.matches,
                "thresholds": dict(self.thresholds)}


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_band(value):
    """model.json's optional "check_band": [low, high] in score units (see core.verify.band)."""
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if not 0.0 <= low < high <= 100.0:
        raise ValueError(f"check_band {value} is not [low, high] with 0 <= low < high <= 100")
    return low, high


def load_bundle(path) -> Bundle:
    """Read and check a bundle's manifest; the ONNX file is hashed, not loaded."""
    path = Path(path)
    manifest = path / "model.json"
    onnx_file = path / "model.onnx"
    if not path.is_dir():
        raise BundleError(f"model bundle not found: {path}")
    for f in (manifest, onnx_file):
        if not f.is_file():
            raise BundleError(f"model bundle {path} is incomplete: {f.name} is missing")
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        inp = meta.get("input", {})
        spec = InputSpec(size=tuple(int(v) for v in inp.get("size", (224, 224))),
                         mean=tuple(float(v) for v in inp.get("mean", InputSpec.mean)),
                         std=tuple(float(v) for v in inp.get("std", InputSpec.std)),
                         views=tuple(str(v) for v in inp.get("views", InputSpec.views)),
                         scene_views=tuple(str(v) for v in inp.get("scene_views", ())))
        if len(spec.size) != 2 or len(spec.mean) != 3 or len(spec.std) != 3:
            raise ValueError("input size/mean/std have the wrong length")
        if not spec.views or len(set(spec.views)) != len(spec.views) or not set(spec.views) <= set(VIEWS):
            raise ValueError(f"input views {list(spec.views)} are not distinct names among {list(VIEWS)}")
        if len(set(spec.scene_views)) != len(spec.scene_views) or not set(spec.scene_views) <= set(VIEWS):
            raise ValueError(f"input scene_views {list(spec.scene_views)} are not distinct names among {list(VIEWS)}")
        if inp.get("layout", "NCHW") != "NCHW" or inp.get("color", "RGB") != "RGB":
            raise ValueError("only NCHW RGB inputs are supported")
        thresholds = {"duplicate": 90.0, "similar": 80.0}
        thresholds.update({k: float(v) for k, v in meta.get("thresholds", {}).items()})
        bundle = Bundle(path=path, name=str(meta.get("name", path.name)),
                        version=str(meta.get("version", "0")), input=spec,
                        embedding_dim=int(meta["embedding_dim"]),
                        preprocess=str(meta.get("preprocess", "whole")),
                        thresholds=thresholds, metrics=meta.get("metrics", {}),
                        trained_on=str(meta.get("trained_on", "")),
                        matches=str(meta.get("matches", "copies")), title=str(meta.get("title", "")),
                        check_band=_check_band(meta.get("check_band")))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BundleError(f"model bundle {path} has a broken model.json: {exc}") from None
    if bundle.preprocess not in ("whole", "face"):
        raise BundleError(f"model bundle {path}: unknown preprocess {bundle.preprocess!r}")
    if bundle.matches not in ("copies", "subjects"):
        raise BundleError(f"model bundle {path}: unknown matches {bundle.matches!r} (copies or subjects)")
    if os.path.getsize(onnx_file) < 64:
        raise BundleError(f"model bundle {path}: model.onnx is truncated or empty")
    bundle.model_id = file_sha256(onnx_file)
    return bundle


def _resized(image: Image.Image, spec: InputSpec) -> Image.Image:
    h, w = spec.size
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != (w, h):
        image = image.resize((w, h), Image.BILINEAR, reducing_gap=2.0)
    return image


def _array(image: Image.Image, spec: InputSpec, view: str) -> np.ndarray:
    if view == "equalized":     # the luminance's histogram spread flat: the tones of the shot no longer matter
        from PIL import ImageOps
        image = ImageOps.equalize(image.convert("L")).convert("RGB")
    a = np.asarray(image, dtype=np.float32) * (1.0 / 255.0)
    a = (a - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def to_input(image: Image.Image, spec: InputSpec, view: str = "as-is") -> np.ndarray:
    """One RGB picture -> float32 CHW array, normalised as the model expects.

    The whole picture is resized to the input size (no centre crop), so nothing at the
    edges is lost and a 90-degree rotation of the photo is a rotation of the input. `view`
    "equalized": the resized picture's luminance with its histogram equalised, as grey RGB.
    """
    return _array(_resized(image, spec), spec, view)


def model_input(image: Image.Image, spec: InputSpec) -> np.ndarray:
    """What the model runs on for one picture: `to_input` (CHW), or with several views in
    the spec (`InputSpec.all_views`) a [views, C, H, W] stack, whose embeddings core.embed
    averages into the photo's vector (and its scene vector)."""
    views = spec.all_views
    if views == ("as-is",):
        return to_input(image, spec)
    small = _resized(image, spec)
    return np.stack([_array(small, spec, v) for v in views])
