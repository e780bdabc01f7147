"""Settings file: defaults, round trip, broken file, environment override."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from lookalike.app.settings import Settings, config_dir  # noqa: E402


def test_settings_round_trip_in_the_isolated_config_dir(isolated_dirs):
    s = Settings.load()
    assert s.face_mode is False and s.model_dir is None
    assert str(s.path).startswith(str(isolated_dirs / "config"))
    s.face_mode, s.model_dir, s.threshold = True, "/models/x", 91.5
    s.save()
    again = Settings.load()
    assert (again.face_mode, again.model_dir, again.threshold) == (True, "/models/x", 91.5)
    assert json.loads(again.path.read_text())["schema_version"] == 1


def test_broken_or_newer_settings_fall_back_to_defaults(isolated_dirs):
    path = config_dir() / "gui.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert Settings.load().theme == "system"
    path.write_text(json.dumps({"schema_version": 99, "face_mode": True}))
    assert Settings.load().face_mode is False


def test_config_dir_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "cfg"))
    s = Settings.load()
    s.save()
    assert (tmp_path / "cfg" / "gui.json").is_file()


def test_settings_dialog_writes_the_file(qtbot, isolated_dirs, tmp_path):
    from lookalike.app.settings_dialog import SettingsDialog
    s = Settings.load()
    dlg = SettingsDialog(s)
    qtbot.addWidget(dlg)
    dlg.face.setChecked(True)
    dlg.model.setText(str(tmp_path / "bundle"))
    dlg.theme.setCurrentText("dark")
    dlg.apply()
    again = Settings.load()
    assert again.face_mode and again.model_dir == str(tmp_path / "bundle") and again.theme == "dark"


def test_face_mode_re_embeds_in_the_background(qtbot, make_window, album):
    pytest.importorskip("cv2")
    from .conftest import scan
    win = make_window()
    scan(qtbot, win, album)
    win.settings.face_mode = True
    with qtbot.waitSignal(win.scan_finished, timeout=60000) as blocker:
        win.apply_settings_change(False)
    assert win.bundle.preprocess == "face"
    assert blocker.args[0].embedded == 14          # every readable photo read again for faces
    qtbot.waitUntil(lambda: not win.jobs.is_busy(), timeout=10000)


def test_scan_progress_shows_stage_counts_rate_and_time_left(qtbot, make_window):
    from lookalike.core.progress import Progress
    win = make_window()
    win._scan_counts = {}
    win._scan_progress(Progress("discover", 1200, 0, 0.0))
    assert "Finding photos: 1,200" in win.stage_label.text()
    win._scan_progress(Progress("embed", 300, 1200, 30.0))
    text = win.stage_label.text()
    assert "1,200 files found" in text and "Reading photos: 300 of 1,200" in text
    assert "30.0/s" in text and "about 30 s left" in text
    assert win.progress.maximum() == 1200 and win.progress.value() == 300
