"""The window's state and operations, driven with no widgets at all (app/controller.py)."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from lookalike.app.controller import Controller  # noqa: E402
from lookalike.app.settings import Settings  # noqa: E402


@pytest.fixture
def controller(qtbot, tiny_bundle, fake_trash):
    c = Controller(Settings.load(), model_dir=tiny_bundle, trash_func=fake_trash)
    said = []
    c.message.connect(lambda text, error: said.append(text))
    c.said = said
    with qtbot.waitSignal(c.jobs.idle, timeout=10000, raising=False):
        assert c.open_library()
    yield c
    qtbot.waitUntil(lambda: not c.jobs.is_busy(), timeout=10000)
    c.shutdown()


def scan(qtbot, c, folder=None):
    if folder is not None:
        c.add_folders([str(folder)])
    with qtbot.waitSignal(c.scan_finished, timeout=30000) as blocker:
        assert c.start_scan()
    qtbot.waitUntil(lambda: not c.jobs.is_busy(), timeout=10000)
    return blocker.args[0]


def names(c):
    from lookalike.app.marking import described
    return sorted(sorted(os.path.basename(m.path) for m in g) for g in described(c.lib, c.results, range(len(c.results))))


def test_scan_regroup_mark_and_trash_without_a_window(qtbot, controller, album, trash_dir):
    c = controller
    stats = scan(qtbot, c, album)
    assert stats.found == 15 and c.state is not None
    res = c.regroup(c.bundle.thresholds["duplicate"])
    assert len(res) == 3 and res.reclaimable > 0
    c.mark_by_rule("highest_resolution")
    assert c.marks and all(isinstance(i, int) for i in c.marks)           # marks are file ids
    assert {os.path.basename(p) for p in c.marked_paths()} >= {"small0.png", "small1.png", "small2.png"}
    plan = c.plan()
    assert plan.bytes == res.reclaimable and not plan.refused        # "Frees" is what the plan frees
    with qtbot.waitSignal(c.action_finished, timeout=15000) as blocker:
        c.trash(plan)
    assert len(blocker.args[0].done) == len(plan.ok) == len(os.listdir(trash_dir)) and not c.marks
    c.regroup(c.bundle.thresholds["duplicate"])                      # the state came back with the outcome
    assert names(c) == []                                            # one photo of each group is left
    assert all((album / f"orig{i}.jpg").exists() for i in range(3))


def test_not_a_duplicate_and_folders_are_written_through_the_writer(qtbot, controller, album):
    c = controller
    scan(qtbot, c, album)
    res = c.regroup(c.bundle.thresholds["duplicate"])
    from lookalike.app.marking import described
    group = next(g for g in described(c.lib, res, range(len(res))) if any(m.path.endswith("orig2.jpg") for m in g))
    with qtbot.waitSignal(c.loaded, timeout=10000):
        c.not_duplicate(group)
    assert len(c.regroup(c.bundle.thresholds["duplicate"])) == 2
    with qtbot.waitSignal(c.folders_changed, timeout=10000):
        c.set_protected(str(album / "keep"), True)
    assert c.folders()[1] == [str(album / "keep")]
