"""The retrain dialog against a fake trainer process that prints JSON lines."""
from __future__ import annotations

import sys
import textwrap

import pytest

pytest.importorskip("PySide6")

from .conftest import scan  # noqa: E402

FAKE = textwrap.dedent("""
    import json, shutil, sys
    data, out, init = sys.argv[1], sys.argv[2], sys.argv[3]
    def emit(**e):
        print(json.dumps(e), flush=True)
    print("a stray line that is not JSON", flush=True)
    emit(event="load", message="reading photos")
    emit(event="data", photos=12, train_identities=3, val_identities=1)
    emit(event="epoch", epoch=0, step=0, loss=None, metric=0.50, eta_s=None)
    for step in range(1, 7):
        emit(event="step", epoch=1 + (step > 3), step=step, total_steps=6, loss=1.0 / step, eta_s=6 - step)
        if step == 3:
            emit(event="epoch", epoch=1, step=3, loss=0.6, metric=0.7, eta_s=3)
    emit(event="epoch", epoch=2, step=6, loss=0.2, metric=0.8, eta_s=0)
    emit(event="evaluate", val={"val_at_far_0.01": 0.9, "recall_at_precision_0.99": 0.85, "auc": 0.99},
         val_before={"val_at_far_0.01": 0.6, "recall_at_precision_0.99": 0.4, "auc": 0.9},
         thresholds={"duplicate": 42.5, "similar": 30.0}, thresholds_before={"duplicate": 81.56, "similar": 72.95})
    shutil.copytree(init, out)
    emit(event="done", epoch=2, step=6, loss=0.2, metric=0.8, eta_s=0, out=out)
""")


@pytest.fixture
def fake_trainer(tmp_path):
    script = tmp_path / "fake_trainer.py"
    script.write_text(FAKE)
    calls = []

    def command(data, out, init_from, faces):
        calls.append((data, out, init_from, faces))
        return sys.executable, [str(script), data, out, init_from]
    command.calls = calls
    return command


def test_retrain_shows_progress_and_switches_to_the_new_model(qtbot, make_window, album, tmp_path, fake_trainer):
    win = make_window(retrain_command=fake_trainer, has_torch=lambda: True)
    scan(qtbot, win, album)
    dlg = win.open_retrain()
    qtbot.addWidget(dlg)
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    dlg.data_edit.setText(str(labelled))
    dlg.out_edit.setText(str(tmp_path / "new-model"))
    dlg.faces.setChecked(True)
    with qtbot.waitSignal(dlg.finished_training, timeout=20000) as blocker:
        dlg.start()
    assert blocker.args == [True]
    assert fake_trainer.calls[0][3] is True and fake_trainer.calls[0][2] == str(win.bundle.path)
    assert dlg.bar.value() == 1000
    assert dlg.plot.losses == [1.0, 0.5, pytest.approx(1 / 3), 0.25, 0.2, pytest.approx(1 / 6)]
    assert dlg.plot.metrics == [0.5, 0.7, 0.8]
    assert "before: 0.500" in dlg.status.text() and "after: 0.800" in dlg.status.text()
    # what the new model changed, on the user's own validation subjects
    table = dlg.changes.text()
    assert "validation subjects" in table
    assert "0.600" in table and "0.900" in table and "0.400" in table and "0.850" in table
    assert "81.6" in table and "42.5" in table
    assert dlg.use_button.isEnabled()
    with qtbot.waitSignal(win.scan_finished, timeout=30000):
        dlg.use_button.click()                    # switch: re-embeds in the background
    assert win.settings.model_dir == str(tmp_path / "new-model")
    assert str(win.bundle.path) == str(tmp_path / "new-model")
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_failed_training_shows_the_error_event(qtbot, make_window, tmp_path):
    script = tmp_path / "failing.py"
    script.write_text("import json\nprint(json.dumps({'event': 'error', 'message': 'need two subjects'}))\n"
                      "raise SystemExit(1)\n")
    win = make_window(retrain_command=lambda *a: (sys.executable, [str(script)]), has_torch=lambda: True)
    dlg = win.open_retrain()
    qtbot.addWidget(dlg)
    dlg.data_edit.setText(str(tmp_path))
    with qtbot.waitSignal(dlg.finished_training, timeout=20000) as blocker:
        dlg.start()
    assert blocker.args == [False]
    assert "need two subjects" in dlg.status.text() and not dlg.use_button.isEnabled()


def test_without_torch_the_dialog_says_how_to_install_it(qtbot, make_window):
    win = make_window(has_torch=lambda: False)
    dlg = win.open_retrain()
    qtbot.addWidget(dlg)
    from lookalike.app.install import train_install_command
    assert train_install_command() in dlg.status.text()
    assert "lookalike[train]" not in dlg.status.text()            # not published: would not resolve
    assert not dlg.start_button.isEnabled()


STOPPABLE = textwrap.dedent("""
    import json, shutil, signal, sys, time
    out, init = sys.argv[1], sys.argv[2]
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    def emit(**e):
        print(json.dumps(e), flush=True)
    emit(event="epoch", epoch=0, step=0, loss=None, metric=0.5, eta_s=None)
    emit(event="cache", round=0, done=4, total=8, eta_s=300.0, fraction=0.1)
    step = 0
    while not stop and step < 100000:
        step += 1
        emit(event="step", stage="train", step=step, total_steps=100000, loss=1.0, eta_s=120.0, fraction=0.4)
        time.sleep(0.02)
    emit(event="evaluate", val={"auc": 0.95}, val_before={"auc": 0.9}, thresholds={"duplicate": 50.0})
    shutil.copytree(init, out)
    emit(event="done", step=step, metric=0.7, eta_s=0, fraction=1.0, out=out)
""")


def test_stop_keeps_the_best_model_so_far_and_shows_the_time_left(qtbot, make_window, tmp_path):
    script = tmp_path / "stoppable.py"
    script.write_text(STOPPABLE)
    win = make_window(retrain_command=lambda data, out, init, faces: (sys.executable, [str(script), out, init]),
                      has_torch=lambda: True)
    dlg = win.open_retrain()
    qtbot.addWidget(dlg)
    dlg.data_edit.setText(str(tmp_path))
    dlg.out_edit.setText(str(tmp_path / "stopped-model"))
    dlg.start()
    qtbot.waitUntil(lambda: any(e.get("event") == "step" for e in dlg.events), timeout=20000)
    assert "left" in dlg.status.text() and dlg.bar.value() == 400     # the whole run's share, not the steps'
    with qtbot.waitSignal(dlg.finished_training, timeout=20000) as blocker:
        dlg.stop_button.click()
    assert blocker.args == [True]
    assert dlg.use_button.isEnabled() and (tmp_path / "stopped-model" / "model.json").is_file()
    assert "0.950" in dlg.changes.text()
