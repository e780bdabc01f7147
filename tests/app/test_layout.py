"""The window at 1024x640 and at 2x scale (4K), light and dark: nothing clipped, every toolbar
action on screen, the photo names whole in their column."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from .conftest import scan  # noqa: E402

SMALL = (1024, 640)
NAMES = ["IMG_20240817_143501.jpg", "IMG_20240817_143501_small.jpg", "IMG_20240817_143501 (copy).jpg",
         "bridge_small.jpg", "bridge.jpg"]


def make_album(root: Path, make_photo):
    root.mkdir(parents=True, exist_ok=True)
    a, b = make_photo(21, (640, 480)), make_photo(22, (640, 480))
    a.save(root / NAMES[0], quality=92)
    a.resize((320, 240)).save(root / NAMES[1], quality=85)
    a.save(root / NAMES[2], quality=70)
    b.resize((200, 150)).save(root / NAMES[3])
    b.save(root / NAMES[4], quality=90)
    return root


def layout_problems(win) -> list[str]:
    """What a user would find cut off in the window as it is shown now."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QWidget
    out = []
    if win.width() > SMALL[0] or win.height() > SMALL[1]:
        out.append(f"window {win.width()}x{win.height()} is larger than {SMALL}: its minimum does not fit")
    tb = win.toolbar
    for a in tb.actions():
        if a.isSeparator():
            continue
        w = tb.widgetForAction(a)
        if w is None or not w.isVisible() or not tb.rect().contains(w.geometry()):
            out.append(f"toolbar item {a.text() or w!r} is not on the toolbar (overflow)")
    for b in win.findChildren(QAbstractButton):
        if b.isVisible() and b.text() and b.window() is win:
            need = b.fontMetrics().horizontalAdvance(b.text().replace("&", ""))
            if b.width() < need + 4:
                out.append(f"button {b.text()!r} is {b.width()} px wide, its text needs {need}")
            r = b.rect().translated(b.mapTo(win, b.rect().topLeft()))
            if not win.rect().contains(r):
                out.append(f"button {b.text()!r} lies outside the window")
    for c in win.findChildren(QComboBox):
        if c.isVisible() and c.width() < c.fontMetrics().horizontalAdvance(c.currentText()) + 20:
            out.append(f"combo box shows {c.currentText()!r} cut")
    mv, mm = win.members_view, win.members_model
    name_col = 6
    x = mv.columnViewportPosition(name_col)
    for r in range(mm.rowCount()):
        name = mm.data(mm.index(r, name_col))
        need = mv.fontMetrics().horizontalAdvance(name) + 8
        if mv.columnWidth(name_col) < need:
            out.append(f"name column {mv.columnWidth(name_col)} px cuts {name!r} ({need} px)")
    if x < 0 or x + mv.columnWidth(name_col) > mv.viewport().width():
        out.append("name column is not within the members list")
    gv, gm = win.groups_view, win.groups_model
    for c in (1, 2, 3):
        for r in range(gm.rowCount()):
            text = str(gm.data(gm.index(r, c)) or "")
            if gv.columnWidth(c) < gv.fontMetrics().horizontalAdvance(text) + 8:
                out.append(f"groups column {c} cuts {text!r}")
        if gv.columnViewportPosition(c) + gv.columnWidth(c) > gv.viewport().width():
            out.append(f"groups column {c} is off the list")
    assert isinstance(win, QWidget)
    return out


def _settle(qtbot, win):
    from PySide6.QtWidgets import QApplication
    for _ in range(5):
        QApplication.processEvents()
    qtbot.wait(50)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_at_1024x640_nothing_is_clipped(qtbot, make_window, make_photo, tmp_path, theme):
    from PySide6.QtWidgets import QApplication

    from lookalike.app.theme import apply_theme
    apply_theme(QApplication.instance(), theme)
    try:
        win = make_window()
        scan(qtbot, win, make_album(tmp_path / "Pictures", make_photo))
        win.resize(*SMALL)
        win.groups_view.selectRow(0)
        _settle(qtbot, win)
        assert win.members_model.rowCount() >= 2
        assert win.members_view.isColumnHidden(5)          # no photo has a date: no empty "Taken" column
        assert layout_problems(win) == []
        for tab in (win.compare, win.similar, win.problems_page):
            win.tabs.setCurrentWidget(tab)
            _settle(qtbot, win)
            assert layout_problems(win) == [], win.tabs.tabText(win.tabs.currentIndex())
        win.tabs.setCurrentIndex(0)
        qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)
    finally:
        apply_theme(QApplication.instance(), "light")


def _scaled_window_report(album, bundle, theme):
    """Run in a child process (the scale factor is read when Qt starts): JSON of the problems."""
    os.environ["QT_SCALE_FACTOR"] = "2"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from lookalike.app.settings import Settings
    from lookalike.app.theme import apply_theme
    from lookalike.app.window import MainWindow
    from lookalike.core.library import Library
    apply_theme(app, theme)
    with Library(write=True) as lib:
        lib.scan([album], lib.bundle(bundle))
    win = MainWindow(Settings.load(), model_dir=bundle)
    win.show()
    for _ in range(400):
        app.processEvents()
        if win.groups_model.rowCount() and not win.jobs.is_busy():
            break
        import time
        time.sleep(0.02)
    win.resize(*SMALL)
    win.groups_view.selectRow(0)
    for _ in range(20):
        app.processEvents()
    report = {"ratio": win.devicePixelRatio(), "groups": win.groups_model.rowCount(), "problems": layout_problems(win)}
    win.shutdown()
    print(json.dumps(report))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_at_2x_scale_as_on_a_4k_screen_nothing_is_clipped(tmp_path, make_photo, tiny_bundle, theme):
    album = make_album(tmp_path / "Pictures", make_photo)
    code = ("import sys; from tests.app.test_layout import _scaled_window_report as r; "
            "r(sys.argv[1], sys.argv[2], sys.argv[3])")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", code, str(album), tiny_bundle, theme], cwd=root, env=env,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads(p.stdout.strip().splitlines()[-1])
    assert report["ratio"] == 2.0 and report["groups"] >= 1
    assert report["problems"] == []
