"""Drive the real main window: scan, slider, marks, trash with guards, not-a-duplicate, cancel."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from .conftest import group_names, scan  # noqa: E402

EXPECTED = [["archived1.jpg", "orig1.jpg", "recomp1.jpg", "small1.png"],
            ["exact0.jpg", "orig0.jpg", "recomp0.jpg", "small0.png"],
            ["orig2.jpg", "recomp2.jpg", "small2.png"]]


def test_scan_of_a_folder_shows_the_expected_groups_and_problems(qtbot, make_window, album):
    win = make_window()
    assert win.groups_model.rowCount() == 0
    stats = scan(qtbot, win, album)
    assert stats.found == 15 and stats.failed == 1
    assert group_names(win) == EXPECTED
    assert win.problems_table.rowCount() == 1
    assert win.problems_table.item(0, 0).text().endswith("broken.jpg")
    assert "Scan done" in win.last_message and "1 problem (see" in win.last_message
    # the members of the selected group are listed with their score to the representative
    assert win.members_model.rowCount() in (3, 4)
    assert win.members_model.data(win.members_model.index(0, 2)) == "keep"       # the suggested keeper
    # thumbnails are made in the background and cached on disk (the isolated cache dir)
    first = win.members_model.items[0].path
    qtbot.waitUntil(lambda: win.thumbs.get(first) is not None, timeout=10000)
    cache = win.settings.thumb_dir()
    assert str(cache).startswith(os.environ["XDG_CACHE_HOME"])
    assert any(p.suffix == ".jpg" for p in cache.rglob("*"))
    qtbot.waitUntil(lambda: not win.jobs.is_busy())


def test_slider_regroups_without_rescanning_and_exact_filter(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    grouper = win.grouper
    assert win.slider.value() == win.bundle.thresholds["duplicate"]
    with qtbot.waitSignal(win.groups_changed, timeout=5000):
        win.slider.set_value(80)
    assert ["cropped2.jpg", "orig2.jpg", "recomp2.jpg", "small2.png"] in group_names(win)
    qtbot.waitUntil(lambda: not win.jobs.is_busy())
    assert win.grouper is grouper                                   # no scan, no reload
    win.page._regroup_ms = 1000.0           # as if the last regroup was slow: the next runs in a worker
    with qtbot.waitSignal(win.groups_changed, timeout=5000):
        win.slider.set_value(win.bundle.thresholds["duplicate"])
        assert win.jobs.active("regroup")
    assert group_names(win) == EXPECTED
    qtbot.waitUntil(lambda: not win.jobs.is_busy())
    with qtbot.waitSignal(win.groups_changed, timeout=5000):
        win.exact_box.setChecked(True)
    assert group_names(win) == [["exact0.jpg", "orig0.jpg"]]
    # sorting by member count puts the 4-photo groups first
    win.exact_box.setChecked(False)
    win.groups_view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert [win.groups_model.data(win.groups_model.index(r, 1)) for r in range(3)] == ["4", "4", "3"]


def test_cancelled_scan_stops_and_resumes(qtbot, make_window, album, monkeypatch):
    from lookalike.app import workers
    original = workers.Job._progress
    read_before_cancel = []

    def cancel_once_reading(self, ev):
        original(self, ev)
        if self.name == "scan" and ev.stage == "embed" and ev.done > 0 and not read_before_cancel:
            read_before_cancel.append(ev.done)
            self.cancel()
    monkeypatch.setattr(workers.Job, "_progress", cancel_once_reading)
    win = make_window()
    win.add_folders([str(album)])
    with qtbot.waitSignal(win.scan_cancelled, timeout=30000):
        win.start_scan()
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)
    assert "press Scan to resume" in win.last_message
    assert win.scan_action.isEnabled() and not win.progress.isVisible()
    stats = scan(qtbot, win)
    assert 0 < read_before_cancel[0] < 15
    assert stats.found == 15 and stats.embedded == 15 - read_before_cancel[0]   # the read photos were kept
    assert group_names(win) == EXPECTED


def test_user_can_cancel_a_scan_with_the_stop_button(qtbot, make_window, album):
    win = make_window()
    win.add_folders([str(album)])
    with qtbot.waitSignal(win.scan_cancelled, timeout=30000):
        win.start_scan()
        qtbot.mouseClick(win.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_second_writer_gets_the_busy_message(qtbot, make_window, album):
    from lookalike.core.library import Library
    win = make_window()
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        win.add_folders([str(album)])
    with Library(win.library_dir, write=True):
        with qtbot.waitSignal(win.scan_failed, timeout=10000) as blocker:
            win.start_scan()
    assert "in use by another Lookalike process" in blocker.args[0]
    assert win.banner.isVisible()
    qtbot.waitUntil(lambda: not win.jobs.is_busy())


def test_mark_by_rule_then_trash_keeps_the_last_copy_and_protected_files(qtbot, make_window, album, trash_dir):
    win = make_window()
    scan(qtbot, win, album)
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        win.set_protected(str(album / "keep"), True)
    asked = []
    win.confirm = lambda title, text, detail="": asked.append((text, detail)) or True
    win.mark_by_rule("highest_resolution")
    marked = {os.path.basename(p) for p in win.controller.marked_paths()}
    assert "archived1.jpg" not in marked                       # protected: never marked
    assert {"small0.png", "small1.png", "small2.png"} <= marked
    # by hand: mark every member of one group (Space on each row)
    row = next(r for r in range(win.groups_model.rowCount())
               if any(m.path.endswith("orig2.jpg") for m in win.groups_model.members(r)))
    win.groups_view.selectRow(row)
    win.members_view.setFocus()
    for r in range(win.members_model.rowCount()):
        win.members_view.setCurrentIndex(win.members_model.index(r, 2))
        if win.members_model.items[r].id not in win.marks:          # marks are file ids
            qtbot.keyClick(win.members_view, Qt.Key.Key_Space)
    group2 = {m.path for m in win.members_model.items}
    assert {m.id for m in win.members_model.items} <= win.marks
    # Delete asks, with the count and size, then trashes into the test trash
    with qtbot.waitSignal(win.action_finished, timeout=15000) as blocker:
        qtbot.keyClick(win.groups_view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not win.jobs.is_busy())
    text, detail = asked[0]
    assert "photos" in text and ("KB" in text or "MB" in text)
    assert "last copy" in detail
    out = blocker.args[0]
    trashed = {os.path.basename(p) for p, _ in out.done}
    assert trashed == {os.path.basename(p) for p in os.listdir(trash_dir)}
    assert (album / "keep" / "archived1.jpg").exists()
    kept2 = [p for p in group2 if os.path.exists(p)]
    assert len(kept2) == 1                                    # the last copy stayed
    everywhere = {os.path.basename(f): f for f in album.rglob("*")}
    assert all(any(n in everywhere for n in g) for g in EXPECTED)   # every group keeps a copy
    # the trashed files are gone from the groups
    names = {n for g in group_names(win) for n in g}
    assert not (names & trashed)


def test_protected_file_marked_by_hand_is_refused(qtbot, make_window, album, trash_dir):
    win = make_window()
    scan(qtbot, win, album)
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        win.set_protected(str(album / "keep"), True)
    win.marks.add(win.lib.catalog.file_by_path(str(album / "keep" / "archived1.jpg")).id)
    win.trash_marked()
    assert "in a protected folder" in win.last_message
    assert os.listdir(trash_dir) == [] and (album / "keep" / "archived1.jpg").exists()


def test_not_a_duplicate_is_remembered_across_restarts(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    row = next(r for r in range(win.groups_model.rowCount())
               if any(m.path.endswith("orig2.jpg") for m in win.groups_model.members(r)))
    win.groups_view.selectRow(row)
    with qtbot.waitSignal(win.library_loaded, timeout=10000):
        win.not_duplicate()
    assert ["orig2.jpg", "recomp2.jpg", "small2.png"] not in group_names(win)
    assert len(group_names(win)) == 2
    qtbot.waitUntil(lambda: not win.jobs.is_busy())
    win.close()
    again = make_window()
    qtbot.waitUntil(lambda: again.grouper is not None, timeout=10000)
    assert len(group_names(again)) == 2
    assert all("orig2.jpg" not in g for g in group_names(again))


def test_settings_survive_a_restart(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    win.slider.set_value(93.5)
    win.settings.face_mode = False
    win.close()
    again = make_window()
    assert again.slider.value() == 93.5
    from lookalike.app.settings import Settings
    assert Settings.load().threshold == 93.5


def test_a_new_user_sees_words_in_problems_a_model_name_and_pictures_in_the_file_dialog(
        qtbot, make_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from lookalike.core.bundle import load_bundle
    from lookalike.core.library import default_model_dir
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    win = make_window()
    win.refresh_problems()
    assert win.problems_page.currentWidget() is win.problems_empty
    assert "No problems" in win.problems_empty.text()
    assert win.windowTitle() == "Lookalike — tiny"                   # the bundle's folder name
    assert load_bundle(default_model_dir()).display_name.startswith("Built-in model")
    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: opened.append(a[2]) or ("", ""))
    win.find_similar()                                   # Ctrl+F with nothing selected: choose a photo
    assert opened == [str(home / "Pictures")]
