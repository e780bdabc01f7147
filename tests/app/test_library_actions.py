"""Folders (drag-in, remove, protect), move + undo, keyboard navigation."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from .conftest import drop, group_names, scan  # noqa: E402
from .test_window import EXPECTED  # noqa: E402


def test_dropped_folder_is_added_and_a_removed_folder_is_forgotten(qtbot, make_window, album):
    win = make_window()
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        drop(win.folders, [album])
    assert win.lib.catalog.roots() == [str(album)]
    assert win.folders.list.count() == 1
    scan(qtbot, win)
    assert len(group_names(win)) == 3
    with qtbot.waitSignal(win.library_loaded, timeout=10000):
        win.remove_folder(str(album))
    assert win.lib.catalog.roots() == [] and win.groups_model.rowCount() == 0
    assert (album / "orig0.jpg").exists()                      # the photos themselves are untouched
    qtbot.waitUntil(lambda: not win.jobs.is_busy())


def test_an_unplugged_folder_is_shown_offline_and_its_groups_stay(qtbot, make_window, album, tmp_path):
    win = make_window()
    scan(qtbot, win, album)
    before = group_names(win)
    os.rename(album, tmp_path / "unplugged")
    stats = scan(qtbot, win)
    assert stats.offline == [str(album)] and stats.removed == 0 and "offline" in win.last_message
    assert group_names(win) == before
    assert win.folders.list.item(0).text().endswith("(offline)")


def test_protecting_a_folder_from_the_panel_is_stored(qtbot, make_window, album):
    win = make_window()
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        win.add_folders([str(album)])
    item = win.folders.list.item(0)
    with qtbot.waitSignal(win.folders_changed, timeout=10000):
        item.setCheckState(Qt.CheckState.Checked)
    assert win.lib.catalog.protected() == [str(album)]
    assert "protected" in win.last_message


def test_move_marked_then_undo_brings_the_files_back(qtbot, make_window, album, tmp_path):
    win = make_window()
    scan(qtbot, win, album)
    dest = tmp_path / "moved"
    win.ask_directory = lambda *a: str(dest)
    asked = []
    win.confirm = lambda title, text, detail="": asked.append(text) or True
    small = str(album / "sub" / "small0.png")
    win.marks.add(win.lib.catalog.file_by_path(small).id)            # marks are file ids
    with qtbot.waitSignal(win.action_finished, timeout=15000):
        win.move_marked()
    assert (dest / "small0.png").exists() and not os.path.exists(small)
    assert "Move 1 photos" in asked[0] and str(dest) in asked[0]
    assert not win.marks
    qtbot.waitUntil(lambda: not win.jobs.is_busy())
    with qtbot.waitSignal(win.scan_finished, timeout=30000):
        win.undo_move()
    assert os.path.exists(small)
    assert group_names(win) == EXPECTED
    qtbot.waitUntil(lambda: not win.jobs.is_busy())


def test_nothing_marked_means_no_question_and_no_trash(qtbot, make_window, album, trash_dir):
    win = make_window()
    scan(qtbot, win, album)
    win.confirm = lambda *a: pytest.fail("must not ask")
    win.trash_marked()
    assert "Nothing is marked" in win.last_message and os.listdir(trash_dir) == []


def test_cancelling_the_confirmation_touches_nothing(qtbot, make_window, album, trash_dir):
    win = make_window()
    scan(qtbot, win, album)
    win.confirm = lambda *a: False
    win.mark_by_rule("largest")
    n = len(win.marks)
    win.trash_marked()
    assert os.listdir(trash_dir) == [] and len(win.marks) == n and not win.jobs.is_busy()


def test_arrow_keys_move_between_groups_and_members(qtbot, make_window, album):
    win = make_window()
    scan(qtbot, win, album)
    win.groups_view.setFocus()
    first = win.members_model.items[0].path
    qtbot.keyClick(win.groups_view, Qt.Key.Key_Down)
    assert win.current_group_row() == 1 and win.members_model.items[0].path != first
    qtbot.keyClick(win.groups_view, Qt.Key.Key_Right)
    assert win.members_view.currentIndex().row() == 0
    qtbot.keyClick(win.members_view, Qt.Key.Key_Down)
    qtbot.keyClick(win.members_view, Qt.Key.Key_Space)
    assert win.members_model.items[1].id in win.marks
    qtbot.keyClick(win.members_view, Qt.Key.Key_Space)
    assert not win.marks


def test_folder_changes_go_through_the_locked_writer(qtbot, make_window, album):
    """The window's library is read-only: adding or protecting a folder is a write, which waits
    for the writer lock like a scan does (here another process holds it: nothing is written)."""
    from lookalike.core.library import Library
    win = make_window()
    with Library(win.library_dir, write=True):
        with qtbot.waitSignal(win.jobs.idle, timeout=10000):
            win.add_folders([str(album)])
        assert "in use by another Lookalike process" in win.last_message
        with qtbot.waitSignal(win.jobs.idle, timeout=10000):
            win.set_protected(str(album), True)
        assert "in use by another Lookalike process" in win.last_message
    assert win.lib.catalog.roots() == [] and win.lib.catalog.protected() == []


def test_a_name_that_is_not_utf8_keeps_its_bytes_in_the_window(qtbot, make_window, tmp_path, make_photo,
                                                                 monkeypatch):
    from PySide6.QtGui import QDesktopServices
    root = tmp_path / "odd"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"f\xe9te.jpg")
    make_photo(7).save(raw, "JPEG", quality=95)
    make_photo(7).resize((160, 120)).save(root / "copy.png")
    path = os.fsdecode(raw)
    win = make_window()
    scan(qtbot, win, root)
    (group,) = [win.groups_model.members(r) for r in range(win.groups_model.rowCount())]
    assert path in {m.path for m in group}
    # the thumbnail arrives under the exact path (a QString round trip would lose the bytes)
    qtbot.waitUntil(lambda: win.thumbs.get(path) is not None, timeout=10000)
    assert not win.thumbs.is_broken(path)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(bytes(url.toEncoded())))
    win.open_in_viewer(path)
    assert opened and opened[0].endswith(b"/f%E9te.jpg")
    with qtbot.waitSignal(win.compare.result_ready, timeout=15000) as blocker:
        win.show_compare(path, str(root / "copy.png"))
    assert blocker.args[0] >= 90 and win.compare.paths[0] == path
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_a_scan_that_ends_at_once_lets_the_next_one_start(qtbot, make_window, album, monkeypatch):
    """A scan with nothing to do can end before the window has hooked onto its end; the
    controller then thought it still running, and refused every scan after it (Scan did
    nothing). Here the job is made to end before `start` returns."""
    win = make_window()
    scan(qtbot, win, album)
    jobs = win.controller.jobs
    real = jobs.start

    def start_and_finish(*args, **kwargs):
        job = real(*args, **kwargs)
        (jobs.write_pool if kwargs.get("writes") else jobs.pool).waitForDone(30000)
        return job

    monkeypatch.setattr(jobs, "start", start_and_finish)
    with qtbot.waitSignal(win.scan_finished, timeout=30000):
        assert win.controller.start_scan()
    monkeypatch.undo()
    qtbot.waitUntil(lambda: not win.controller.is_scanning(), timeout=5000)
    with qtbot.waitSignal(win.scan_finished, timeout=30000):
        assert win.controller.start_scan()
    qtbot.waitUntil(lambda: not win.controller.is_scanning(), timeout=5000)
