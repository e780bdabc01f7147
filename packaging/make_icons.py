"""Render resources/icons/<app id>.svg to the PNG sizes the desktop needs (16-512 px).

    python packaging/make_icons.py          # rewrites resources/icons/<app id>-<N>.png

Uses Qt's SVG renderer (QtSvg ships in PySide6-Essentials), offscreen, no display needed.
The PNGs are committed, so the build does not need to run this.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ID = "io.github.lookalike.Lookalike"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, out_dir: Path, sizes=SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(["make_icons"])  # noqa: F841
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    written = []
    for n in sizes:
        img = QImage(n, n, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(p)
        p.end()
        path = out_dir / f"{APP_ID}-{n}.png"
        if not img.save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in render(ICONS / f"{APP_ID}.svg", ICONS):
        print(p, p.stat().st_size, "bytes")
    sys.exit(0)
