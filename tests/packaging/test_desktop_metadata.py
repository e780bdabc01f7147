"""Desktop integration metadata: one application id everywhere, the icon set, valid files.
Fast; runs always (the validators only where they are installed)."""
from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from lookalike.app import main as app_main
from lookalike.core import __version__

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.lookalike.Lookalike"
LINUX = ROOT / "packaging" / "linux"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def desktop_entry():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str                     # keys are case-sensitive
    cp.read(DESKTOP, encoding="utf-8")
    return cp["Desktop Entry"]


def test_app_id_is_the_same_everywhere():
    assert app_main.APP_ID == APP_ID
    src = Path(app_main.__file__).read_text(encoding="utf-8")
    assert "setDesktopFileName(APP_ID)" in src
    assert "setWindowIcon(" in src

    entry = desktop_entry()
    assert entry["Icon"] == APP_ID
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "lookalike-gui"

    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.find("launchable").get("type") == "desktop-id"
    assert root.findtext("icon") == APP_ID
    assert {b.text for b in root.iter("binary")} == {"lookalike", "lookalike-gui"}
    # the newest release in the metainfo is the package's version
    assert root.find("releases/release").get("version") == __version__


def test_gui_script_name_matches_the_desktop_exec():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert desktop_entry()["Exec"].split()[0] in project["gui-scripts"]
    assert "lookalike" in project["scripts"]


def test_icon_set():
    svg = ICONS / f"{APP_ID}.svg"
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 512 512"
    for n in SIZES:
        png = ICONS / f"{APP_ID}-{n}.png"
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size == (n, n), png
            assert im.mode == "RGBA"
            assert im.getchannel("A").getextrema()[1] == 255      # not an empty picture
    # what the window loads at run time (package data of lookalike.resources)
    installed = resources.files("lookalike.resources") / "icons"
    for n in (16, 32, 48, 256):
        assert (installed / f"{APP_ID}-{n}.png").is_file()


def test_window_icon_loads():
    pytest.importorskip("PySide6.QtWidgets")
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication(["test"])  # noqa: F841
    icon = app_main._app_icon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= {16, 32, 48, 256}


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli is not installed")
def test_metainfo_validates():
    # --no-net: screenshots/URLs are not fetched. AppStream 0.16 reports <developer> (AppStream
    # >= 1.0, which Flathub requires) as an info-level "unknown-tag"; that does not fail.
    r = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates():
    r = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr


def test_spec_keeps_torch_and_the_trainer_out():
    spec = (ROOT / "packaging" / "lookalike.spec").read_text(encoding="utf-8")
    ast.parse(spec)
    for name in ("torch", "torchvision", "lookalike.trainer", "PySide6.QtWebEngineCore",
                 "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtMultimedia"):
        assert f'"{name}"' in spec
    for f in ("entry_cli.py", "entry_gui.py", "build.sh", "linux/install-desktop.sh",
              "linux/README-bundle.txt"):
        assert (ROOT / "packaging" / f).is_file(), f
