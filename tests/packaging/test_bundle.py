"""Smoke test of the PyInstaller bundle: it builds, and its executables work headless.

Slow (a build takes about a minute with a warm pip cache, several on a cold one), so it only
runs when asked:

    LOOKALIKE_BUILD_BUNDLE=1 python -m pytest tests/packaging      # build, then test
    LOOKALIKE_BUNDLE=dist/lookalike python -m pytest tests/packaging  # test an existing bundle

The build uses packaging/build.sh (its venv: LOOKALIKE_BUILD_VENV, default build/bundle-venv).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import shapes

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (os.environ.get("LOOKALIKE_BUILD_BUNDLE") == "1" or os.environ.get("LOOKALIKE_BUNDLE")),
                       reason="set LOOKALIKE_BUILD_BUNDLE=1 (or LOOKALIKE_BUNDLE=DIR) to test the bundle"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle is built for Linux"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    given = os.environ.get("LOOKALIKE_BUNDLE")
    if given:
        return Path(given).resolve()
    dist = tmp_path_factory.mktemp("dist")
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(ROOT / "packaging" / "build.sh")], cwd=ROOT,
                       env={**os.environ, "LOOKALIKE_DIST": str(dist)},
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    print(f"bundle built in {time.monotonic() - t0:.0f} s: {r.stdout.strip().splitlines()[-1]}")
    return dist / "lookalike"


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    e = {k: v for k, v in os.environ.items() if not k.startswith(("LOOKALIKE_", "XDG_", "PYTHON"))}
    e.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
             XDG_CACHE_HOME=str(home / "cache"), LOOKALIKE_LIBRARY=str(tmp_path / "library"))
    return e


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(4):
        im = shapes(i)
        im.save(d / f"p{i}.jpg", quality=92)
        im.resize((240, 180), Image.LANCZOS).save(d / f"p{i}_small.jpg", quality=90)   # a copy
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return d


def run(bundle, env, *args, code=0):
    r = subprocess.run([str(bundle / "lookalike"), *args], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == code, (args, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def test_layout_and_exclusions(bundle):
    assert os.access(bundle / "lookalike", os.X_OK) and os.access(bundle / "lookalike-gui", os.X_OK)
    internal = bundle / "_internal"
    assert (internal / "lookalike" / "resources" / "models" / "default" / "model.onnx").is_file()
    assert (internal / "cv2" / "data" / "haarcascade_frontalface_default.xml").is_file()
    names = {p.name for p in internal.iterdir()}
    assert not names & {"torch", "torchvision", "matplotlib", "onnx", "tkinter"}
    assert not (internal / "lookalike" / "trainer").exists()
    qt = {p.name for p in (internal / "PySide6").glob("*.so")}
    assert {"QtCore.abi3.so", "QtGui.abi3.so", "QtWidgets.abi3.so"} <= qt
    assert not any(n.startswith(("QtWebEngine", "QtQml", "QtQuick", "Qt3D", "QtMultimedia")) for n in qt)
    for f in ("share/applications/io.github.lookalike.Lookalike.desktop",
              "share/metainfo/io.github.lookalike.Lookalike.metainfo.xml",
              "share/icons/hicolor/256x256/apps/io.github.lookalike.Lookalike.png",
              "share/icons/hicolor/scalable/apps/io.github.lookalike.Lookalike.svg", "install-desktop.sh"):
        assert (bundle / f).is_file(), f


def test_cli_from_the_bundle(bundle, env, photos, tmp_path):
    from lookalike.core import __version__
    assert run(bundle, env, "--version").strip() == f"lookalike {__version__}"
    assert "examples" in run(bundle, env, "--help").lower() or "scan" in run(bundle, env, "--help")

    out = run(bundle, env, "-q", "scan", str(photos))
    assert "9 photos" in out and "1 problem," in out

    run(bundle, env, "groups", "--json", str(tmp_path / "g.json"))
    groups = json.loads((tmp_path / "g.json").read_text())["groups"]
    pairs = {frozenset(Path(m["path"]).name for m in g["members"]) for g in groups}
    for i in range(4):
        assert frozenset({f"p{i}.jpg", f"p{i}_small.jpg"}) in pairs
    assert "4 groups" in run(bundle, env, "groups")

    same = json.loads(run(bundle, env, "compare", str(photos / "p0.jpg"), str(photos / "p0_small.jpg"), "--json"))
    other = json.loads(run(bundle, env, "compare", str(photos / "p0.jpg"), str(photos / "p1.jpg"), "--json"))
    assert same["verdict"] in ("duplicate", "identical") and same["score"] > other["score"]
    assert "broken.jpg" in run(bundle, env, "problems")

    info = run(bundle, env, "info")
    assert str(Path(env["XDG_CONFIG_HOME"]) / "lookalike") in info
    assert str(Path(env["XDG_CACHE_HOME"]) / "lookalike") in info
    assert "_internal/lookalike/resources/models/default" in info       # the built-in model

    # --faces loads OpenCV's cascade from the bundle: the broken file stays the only problem
    out = run(bundle, env, "-q", "--faces", "scan", str(photos))
    assert "1 problem," in out

    # usage errors and the missing trainer: clear messages, documented exit codes
    run(bundle, env, "no-such-command", code=2)
    r = subprocess.run([str(bundle / "lookalike"), "train", str(photos), "--out", str(tmp_path / "m")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "retraining needs the pip install" in r.stderr
    assert "pip install '.[train]'" in r.stderr


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed")
def test_window_opens_under_xvfb(bundle, env, photos, tmp_path):
    run(bundle, env, "-q", "scan", str(photos))
    png = tmp_path / "window.png"
    r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", str(bundle / "lookalike-gui"),
                        "--screenshot", str(png)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with Image.open(png) as im:
        assert im.size[0] >= 800 and im.size[1] >= 500
