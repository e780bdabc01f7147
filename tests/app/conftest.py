"""App tests: offscreen Qt, isolated dirs (root conftest), a test trash, no leaked threads."""
from __future__ import annotations

import os
import shutil
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

try:
    import PySide6  # noqa: F401
    import pytestqt  # noqa: F401
except ImportError:            # the GUI extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(autouse=True)
def never_the_real_trash(monkeypatch):
    """Any call of the real send2trash fails the test."""
    import send2trash

    def refuse(path):
        raise AssertionError(f"the real trash was used for {path}")
    monkeypatch.setattr(send2trash, "send2trash", refuse)


@pytest.fixture
def album(tmp_path, make_photo):
    """3 originals, each with a resized and a re-compressed copy; one exact copy; 2 strangers;
    a protected folder `keep/` holding a copy of photo 1; a cropped edit of photo 2; one
    unreadable file."""
    root = tmp_path / "album"
    (root / "sub").mkdir(parents=True)
    (root / "keep").mkdir()
    for i in range(3):
        p = make_photo(10 + i)
        p.save(root / f"orig{i}.jpg", quality=95)
        p.resize((160, 120)).save(root / "sub" / f"small{i}.png")
        p.save(root / f"recomp{i}.jpg", quality=40)
    shutil.copy(root / "orig0.jpg", root / "sub" / "exact0.jpg")
    make_photo(11).resize((240, 180)).save(root / "keep" / "archived1.jpg", quality=90)
    p = make_photo(12)                    # a cropped edit: scores ~85, joins only at a low threshold
    p.crop((0, 0, int(p.width * 0.9), int(p.height * 0.9))).save(root / "cropped2.jpg", quality=92)
    for i in range(2):
        make_photo(100 + i).save(root / f"other{i}.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture
def trash_dir(tmp_path):
    d = tmp_path / "test-trash"
    d.mkdir()
    return d


@pytest.fixture
def fake_trash(trash_dir):
    def move_to_test_trash(path):
        dst = trash_dir / os.path.basename(path)
        n = 1
        while dst.exists():
            dst = trash_dir / f"{n}-{os.path.basename(path)}"
            n += 1
        shutil.move(path, dst)
    return move_to_test_trash


def _assert_idle(win):
    from PySide6.QtCore import QThreadPool
    assert not win.jobs.is_busy(), f"test left jobs running: {[j.name for j in win.jobs.active()]}"
    win.shutdown()
    assert win.jobs.pool.activeThreadCount() == 0
    assert win.thumbs.pool.activeThreadCount() == 0
    assert QThreadPool.globalInstance().activeThreadCount() == 0
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("lookalike-decode") and t.is_alive()]
    assert leaked == [], f"scan threads still running: {leaked}"


@pytest.fixture
def make_window(qtbot, tiny_bundle, fake_trash):
    """Opens real main windows on the isolated library with the tiny model; each must end idle."""
    from lookalike.app.settings import Settings
    from lookalike.app.window import MainWindow
    made = []

    def make(**kw):
        kw.setdefault("model_dir", tiny_bundle)
        kw.setdefault("trash_func", fake_trash)
        win = MainWindow(Settings.load(), **kw)
        qtbot.addWidget(win)
        made.append(win)
        win.show()
        qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)
        return win

    yield make
    for win in made:
        _assert_idle(win)


def scan(qtbot, win, folder=None, timeout=30000):
    if folder is not None:
        win.add_folders([str(folder)])
    with qtbot.waitSignal(win.scan_finished, timeout=timeout) as blocker:
        win.start_scan()
    # the job leaves the pool and the controller forgets it in two queued calls: a new scan can
    # start only after both (start_scan refuses while one is running)
    qtbot.waitUntil(lambda: not win.jobs.active("scan") and not win.controller.is_scanning(), timeout=5000)
    return blocker.args[0]


def group_names(win):
    """Sorted basenames of every group shown."""
    m = win.groups_model
    return sorted(sorted(os.path.basename(x.path) for x in m.members(r)) for r in range(m.rowCount()))


def drop(widget, paths, x=10):
    """Deliver a drop of local files/folders to a widget, as a file manager would."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(x, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(ev)
