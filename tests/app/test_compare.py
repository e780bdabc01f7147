"""Compare (dropped files, inside or outside the library) and Similar."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from .conftest import drop, scan  # noqa: E402


def test_two_dropped_files_outside_the_library_are_compared(qtbot, make_window, tmp_path, make_photo):
    win = make_window()
    a, b, c = tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "c.jpg"
    p = make_photo(5, (400, 300))
    p.save(a, quality=90)
    p.resize((200, 150)).save(b)
    make_photo(6).save(c)
    with qtbot.waitSignal(win.compare.result_ready, timeout=15000) as blocker:
        drop(win.compare, [a, b])
    score, verdict = blocker.args
    assert score > win.bundle.thresholds["duplicate"] and verdict == "duplicate"
    qtbot.waitUntil(lambda: all(win.compare.meta), timeout=10000)
    assert "Resolution" in win.compare.differing_rows() and "Name" in win.compare.differing_rows()
    assert "Duplicate" in win.compare.result_label.text()
    # one file dropped on the right half replaces the right side
    with qtbot.waitSignal(win.compare.result_ready, timeout=15000) as blocker:
        drop(win.compare, [c], x=win.compare.width() - 5)
    assert win.compare.paths == [str(a), str(c)]
    assert blocker.args[1] == "different"
    # the verdict follows the slider without recomputing the score
    win.compare.score = 80.0
    win.slider.set_value(75)
    assert win.compare.verdict == "duplicate"
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_identical_files_are_labelled_identical_and_zoom_is_synchronised(qtbot, make_window, tmp_path, make_photo):
    win = make_window()
    a, b = tmp_path / "a.jpg", tmp_path / "copy.jpg"
    make_photo(7).save(a)
    b.write_bytes(a.read_bytes())
    win.resize(1000, 700)
    with qtbot.waitSignal(win.compare.loaded, timeout=15000):
        win.show_compare(str(a), str(b))
    qtbot.waitUntil(lambda: win.compare.verdict is not None, timeout=15000)
    assert win.compare.verdict == "identical" and win.compare.score == 100.0
    left, right = win.compare.panes
    left.zoom_by(3.0)
    assert right.zoom == pytest.approx(left.zoom)
    left.horizontalScrollBar().setValue(left.horizontalScrollBar().maximum())
    assert right.center_fraction()[0] == pytest.approx(left.center_fraction()[0], abs=0.05)
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_compare_from_a_group_opens_the_representative_and_a_copy(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    with qtbot.waitSignal(win.compare.result_ready, timeout=15000):
        win.compare_selected()
    assert win.tabs.currentWidget() is win.compare
    assert win.compare.paths[0] == win.members_model.items[0].path
    assert win.compare.verdict in ("duplicate", "identical")
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_similar_lists_the_nearest_photos_with_scores(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    with qtbot.waitSignal(win.similar.results_ready, timeout=15000) as blocker:
        drop(win.similar, [album / "orig1.jpg"])
    hits = blocker.args[0]
    top = {os.path.basename(p) for p, s in hits[:3]}
    assert top <= {"recomp1.jpg", "small1.png", "archived1.jpg"}
    assert all(s > 99 for _, s in hits[:3])
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert win.similar.list.count() == len(hits)
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_ctrl_f_searches_the_selected_member(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    win.members_view.selectRow(1)
    with qtbot.waitSignal(win.similar.results_ready, timeout=15000):
        qtbot.keyClick(win.members_view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert win.similar.query == win.members_model.items[1].path
    assert win.tabs.currentWidget() is win.similar
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_compare_shows_where_a_captioned_copy_and_a_crop_differ(qtbot, make_window, tmp_path):
    from ..conftest import detailed_photo, with_caption
    win = make_window()
    win.resize(1200, 800)
    original = detailed_photo(3)
    a, captioned, crop = tmp_path / "a.jpg", tmp_path / "captioned.jpg", tmp_path / "crop.png"
    original.save(a, quality=92)
    with_caption(original, (80, 560, 560, 660)).resize((640, 480)).save(captioned, quality=85)
    original.crop((200, 100, 800, 550)).save(crop)
    cmp = win.compare
    left, right = cmp.panes
    with qtbot.waitSignal(cmp.differences_ready, timeout=30000):
        win.show_compare(str(a), str(captioned))
    x0, y0, x1, y1 = cmp.difference.hot_box()
    assert abs(x0 - 80 / 960) < 0.03 and abs(y0 - 560 / 720) < 0.03 and abs(x1 - 560 / 960) < 0.03
    assert "differs" in cmp.diff_label.text()
    assert not left.heat_item.isVisible()                    # the heat map is offered, not forced
    cmp.heat_button.setChecked(True)
    assert left.heat_item.isVisible() and not left.heat_item.pixmap().isNull()
    shown = left.heat_item.mapRectToParent(left.heat_item.boundingRect())
    assert abs(shown.width() - left.item.pixmap().width()) < 2        # laid over the whole photo
    cmp.blink_button.setChecked(True)
    qtbot.waitUntil(lambda: left.blink_item.isVisible(), timeout=3000)
    cmp.blink_button.setChecked(False)
    assert not left.blink_item.isVisible()
    assert not left.outline_item.isVisible()                 # same framing: nothing to outline

    with qtbot.waitSignal(cmp.differences_ready, timeout=30000):
        win.show_compare(str(a), str(crop))
    assert left.outline_item.isVisible() and not right.outline_item.isVisible()
    r, pm = left.outline_item.polygon().boundingRect(), left.item.pixmap()
    assert abs(r.left() / pm.width() - 200 / 960) < 0.02 and abs(r.bottom() / pm.height() - 550 / 720) < 0.02
    assert "covers" in cmp.diff_label.text()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)
