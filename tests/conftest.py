"""Shared fixtures: a tiny ONNX model bundle (no torch needed) and generated photos."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the real library, config or data dirs."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LOOKALIKE_LIBRARY", str(home / "library"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    return home


def make_tiny_bundle(folder, size=32, grid=4, preprocess="whole", thresholds=(97.0, 90.0)):
    """A bundle whose "embedding" is the mean-centred colour thumbnail (grid x grid x 3):
    re-encoded or resized copies score near 100, unrelated pictures low."""
    import onnx
    from onnx import TensorProto, helper

    k = size // grid
    dim = 3 * grid * grid
    nodes = [
        helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[k, k], strides=[k, k]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("ReduceMean", ["flat", "axes"], ["mean"], keepdims=1),
        helper.make_node("Sub", ["flat", "mean"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dim])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    manifest = {"name": "tiny-test", "version": "1",
                "input": {"size": [size, size], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                          "layout": "NCHW", "color": "RGB"},
                "embedding_dim": dim, "normalized": True, "preprocess": preprocess,
                "thresholds": {"duplicate": thresholds[0], "similar": thresholds[1]},
                "metrics": {}, "trained_on": "nothing: a test fixture"}
    with open(os.path.join(folder, "model.json"), "w") as fh:
        json.dump(manifest, fh)
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    return make_tiny_bundle(str(tmp_path_factory.mktemp("bundle") / "tiny"))


def photo(seed, size=(320, 240)):
    """A synthetic 'photo': smooth colour field with a few blobs, different for each seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(-3, 3, 3)
        img[..., c] = 128 + 90 * np.sin(a * xx / w * np.pi + b * yy / h * np.pi + ph)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.3) * min(w, h)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def shapes(seed, size=(320, 240), n=12, max_size=(120, 100)):
    """A synthetic picture of flat ellipses and rectangles on a plain background. Unlike
    `photo`, different seeds stay far apart for a real (luminance-only) model."""
    rng = random.Random(seed)
    w, h = size
    im = Image.new("RGB", (w, h), tuple(rng.randint(0, 255) for _ in range(3)))
    d = ImageDraw.Draw(im)
    for _ in range(n):
        x0, y0 = rng.randint(0, w - 20), rng.randint(0, h - 20)
        box = (x0, y0, x0 + rng.randint(10, max_size[0]), y0 + rng.randint(10, max_size[1]))
        col = tuple(rng.randint(0, 255) for _ in range(3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=col)
    return im


def detailed_photo(seed, size=(960, 720), marks=2500):
    """`photo` under many small light and dark marks: enough detail for keypoints to align."""
    rng = np.random.default_rng(seed)
    img = np.asarray(photo(seed, size), np.float32).copy()
    w, h = size
    for _ in range(marks):
        x, y = rng.integers(0, w - 14), rng.integers(0, h - 14)
        dx, dy = rng.integers(3, 14, 2)
        img[y:y + dy, x:x + dx] += rng.uniform(-70, 70)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def with_caption(im, box=(80, 560, 560, 660), text="HELLO CAPTION"):
    """A copy of `im` with a white caption band and black text in `box` (pixels)."""
    out = im.copy()
    d = ImageDraw.Draw(out)
    d.rectangle(box, fill=(255, 255, 255))
    d.text((box[0] + 20, box[1] + 20), text, fill=(0, 0, 0), font_size=(box[3] - box[1]) * 0.6)
    return out


@pytest.fixture
def make_photo():
    return photo
