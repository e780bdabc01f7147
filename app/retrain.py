"""Retrain on labelled folders: runs the trainer as a subprocess (the app never imports
torch) and turns its JSON-lines progress into a progress bar with the time left, a live loss
plot and, when it is done, a before/after table on the user's own validation subjects.

"Stop" asks the trainer (SIGTERM) to finish early with the best model so far; closing the
dialog cancels (SIGINT: nothing is written).

The command is injectable (`command=`), so tests run a fake trainer script.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QPointF, QProcess, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from .install import train_install_command


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def trainer_command(data: str, out: str, init_from: str | None, faces: bool) -> tuple[str, list[str]]:
    args = ["-m", "lookalike.trainer", data, "--out", out]
    if init_from:
        args += ["--init-from", init_from]
    if faces:
        args.append("--faces")
    return sys.executable, args


def default_output_dir() -> str:
    import platformdirs
    base = Path(platformdirs.user_data_dir("lookalike", appauthor=False)) / "models"
    return str(base / time.strftime("retrained-%Y%m%d-%H%M%S"))


class LossPlot(QWidget):
    """A small line plot of the training loss (and validation metric per epoch)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.losses: list[float] = []
        self.metrics: list[float] = []
        self.setMinimumSize(320, 140)

    def add_loss(self, v):
        self.losses.append(float(v))
        self.update()

    def add_metric(self, v):
        self.metrics.append(float(v))
        self.update()

    def clear(self):
        self.losses.clear()
        self.metrics.clear()
        self.update()

    def _line(self, p, values, color, rect):
        if len(values) < 1:
            return
        lo, hi = min(values), max(values)
        span = (hi - lo) or 1.0
        path = QPainterPath()
        n = max(len(values) - 1, 1)
        for i, v in enumerate(values):
            pt = QPointF(rect.left() + rect.width() * i / n, rect.bottom() - rect.height() * (v - lo) / span)
            path.moveTo(pt) if i == 0 else path.lineTo(pt)
        p.setPen(QPen(color, 2))
        p.drawPath(path)

    def paintEvent(self, ev):
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.rect().adjusted(8, 18, -8, -8)
        p.setPen(self.palette().mid().color())
        p.drawRect(r)
        p.setPen(QColor(220, 90, 70))
        p.drawText(10, 14, f"loss {self.losses[-1]:.4f}" if self.losses else "loss")
        p.setPen(QColor(70, 140, 220))
        p.drawText(130, 14, f"validation {self.metrics[-1]:.3f}" if self.metrics else "validation")
        self._line(p, self.losses, QColor(220, 90, 70), r.adjusted(2, 2, -2, -2))
        self._line(p, self.metrics, QColor(70, 140, 220), r.adjusted(2, 2, -2, -2))
        p.end()


class RetrainDialog(QDialog):
    """Emits `model_ready(path)` when the user chooses to switch to the new model."""
    model_ready = Signal(str)
    finished_training = Signal(bool)       # True on success
    event_received = Signal(dict)

    def __init__(self, current_model: str | None, parent=None, command=trainer_command,
                 has_torch=torch_available):
        super().__init__(parent)
        self.setWindowTitle("Retrain on my labelled folders")
        self.current_model, self.command = current_model, command
        self.proc: QProcess | None = None
        self.out_dir: str | None = None
        self.before: float | None = None
        self.after: float | None = None
        self.succeeded = False
        self._buf = b""
        self._stderr = b""
        self.events: list[dict] = []

        self.data_edit = QLineEdit(self)
        self.data_edit.setPlaceholderText("a folder with one subfolder per person or subject")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._browse_data)
        row = QHBoxLayout()
        row.addWidget(self.data_edit, 1)
        row.addWidget(browse)
        self.out_edit = QLineEdit(default_output_dir(), self)
        self.faces = QCheckBox("Train on faces (crop the largest face of each photo)", self)
        form = QFormLayout()
        form.addRow("Labelled photos", row)
        form.addRow("New model folder", self.out_edit)
        form.addRow("", self.faces)

        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.changes = QLabel("", self)          # before/after table once training is done
        self.changes.setWordWrap(True)
        self.changes.setTextFormat(Qt.TextFormat.RichText)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.plot = LossPlot(self)
        self.start_button = QPushButton("Start training", self)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop and keep the best", self)
        self.stop_button.setToolTip("Finish now with the best model found so far")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.use_button = QPushButton("Use the new model", self)
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        buttons = QDialogButtonBox(self)
        buttons.addButton(self.start_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.changes)
        lay.addWidget(buttons)

        if not has_torch():
            if getattr(sys, "frozen", False):
                self.status.setText("This self-contained build has no PyTorch. Retraining needs the pip "
                                    "install of Lookalike; in its source folder:\n"
                                    "    pip install '.[train]'\nthen use the model it makes here "
                                    "(Settings → Model).")
            else:
                self.status.setText("Training needs PyTorch, which is not installed. Install it with\n"
                                    f"    {train_install_command()}\nand open this dialog again.")
            self.start_button.setEnabled(False)
        else:
            self.status.setText("Pick a folder with one subfolder per subject (at least two photos "
                                "each), then start. Training runs in the background.")

    def _browse_data(self):
        d = QFileDialog.getExistingDirectory(self, "Folder of labelled subfolders")
        if d:
            self.data_edit.setText(d)

    # -- process ------------------------------------------------------------------------
    def start(self):
        data = self.data_edit.text().strip()
        if not data or not os.path.isdir(data):
            self.status.setText("Choose an existing folder with one subfolder per subject first.")
            return
        self.out_dir = self.out_edit.text().strip() or default_output_dir()
        program, args = self.command(data, self.out_dir, self.current_model, self.faces.isChecked())
        self.plot.clear()
        self.events.clear()
        self.before = self.after = None
        self.comparison = None
        self.changes.setText("")
        self.succeeded = False
        self.stopping = False
        self._buf = self._stderr = b""
        self.bar.setValue(0)
        self.proc = QProcess(self)
        self.proc.setProgram(program)
        self.proc.setArguments(args)
        self.proc.readyReadStandardOutput.connect(self._read_stdout)
        self.proc.readyReadStandardError.connect(self._read_stderr)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.use_button.setEnabled(False)
        self.status.setText("Starting the trainer…")
        self.proc.start()

    def stop(self):
        """Finish early: the trainer evaluates and exports the best model so far."""
        if self.is_running() and not self.stopping:
            self.stopping = True
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping: finishing with the best model so far…")
            self.proc.terminate()          # SIGTERM: the trainer stops at the next step

    def cancel(self):
        """Abandon the run (SIGINT: the trainer writes nothing); a hard kill only if it hangs."""
        if self.is_running():
            self.status.setText("Cancelling…")
            pid = self.proc.processId()
            try:
                os.kill(pid, signal.SIGINT)
            except (OSError, AttributeError):
                self.proc.terminate()
            if not self.proc.waitForFinished(10000):
                self.proc.kill()
                self.proc.waitForFinished(2000)

    def _read_stdout(self):
        self._buf += bytes(self.proc.readAllStandardOutput())
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue               # a stray print: not progress
            if isinstance(ev, dict):
                self.handle_event(ev)

    def _read_stderr(self):
        self._stderr = (self._stderr + bytes(self.proc.readAllStandardError()))[-4000:]

    def handle_event(self, ev: dict):
        self.events.append(ev)
        kind = ev.get("event")
        eta = ev.get("eta_s")
        eta_txt = f", about {_duration(eta)} left" if isinstance(eta, (int, float)) and eta > 0 else ""
        frac = ev.get("fraction")
        if isinstance(frac, (int, float)):          # the whole run, not only the steps
            self.bar.setValue(max(self.bar.value(), int(1000 * min(max(frac, 0.0), 1.0))))
        if kind == "step":
            total = ev.get("total_steps") or 0
            if total and frac is None:
                self.bar.setValue(int(1000 * min(ev.get("step", 0) / total, 1.0)))
            if ev.get("loss") is not None:
                self.plot.add_loss(ev["loss"])
            where = f"epoch {ev.get('epoch')}, " if ev.get("epoch") is not None else ""
            trial = f" (setting {ev['trial']})" if ev.get("trial") else ""
            self.status.setText(f"Training{trial}: {where}step {ev.get('step')}"
                                f"{f' of {total}' if total else ''}{eta_txt}")
        elif kind == "cache":
            self.status.setText(f"Preparing edited copies of the training photos: round {ev.get('round')}, "
                                f"{ev.get('done')} of {ev.get('total')} photos{eta_txt}")
        elif kind == "evaluate":
            self.comparison = (ev.get("val_before"), ev.get("val"), ev.get("thresholds_before"),
                               ev.get("thresholds"))
        elif kind == "epoch":
            if ev.get("metric") is not None:
                if ev.get("epoch") == 0:
                    self.before = float(ev["metric"])
                self.plot.add_metric(ev["metric"])
            self.status.setText(f"Validation {_fmt(ev.get('metric'))} after step {ev.get('step')}{eta_txt}"
                                if ev.get("epoch") else f"Validation before training: {_fmt(ev.get('metric'))}{eta_txt}")
        elif kind == "done":
            self.bar.setValue(1000)
            self.after = ev.get("metric")
            self.out_dir = ev.get("out") or self.out_dir
        elif kind in ("load", "data", "notice", "evaluate", "export"):
            msg = ev.get("message") or (f"{ev.get('photos')} photos, {ev.get('train_identities')} subjects "
                                        f"for training" if kind == "data" else kind)
            self.status.setText(str(msg).capitalize())
        elif kind == "error":
            self.status.setText(f"Training failed: {ev.get('message')}")
        self.event_received.emit(ev)

    def _error(self, err):
        if err == QProcess.ProcessError.FailedToStart:
            self.status.setText(f"Cannot start the trainer: {self.proc.errorString()}")
            self.start_button.setEnabled(True)
            self.stop_button.setEnabled(False)
            self.finished_training.emit(False)

    def _finished(self, code, status):
        self._read_stdout()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        ok = code == 0 and status == QProcess.ExitStatus.NormalExit and any(
            e.get("event") == "done" for e in self.events)
        self.succeeded = ok
        if ok:
            better = isinstance(self.after, (int, float)) and isinstance(self.before, (int, float)) \
                and self.after > self.before
            verdict = "" if better or self.before is None else \
                "\nThe new model is not better than the current one on your validation subjects."
            self.status.setText(f"Done. Validation quality before: {_fmt(self.before)}, after: {_fmt(self.after)}."
                                f"{verdict}\nThe new model and its report (report.md) are in {self.out_dir}.")
            self.changes.setText(comparison_html(*self.comparison) if self.comparison else "")
            self.use_button.setEnabled(True)
        elif not any(e.get("event") == "error" for e in self.events):
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            self.status.setText("Training stopped" + (f" (exit code {code})" if code else "") +
                                (":\n" + "\n".join(tail) if tail else "."))
        self.finished_training.emit(ok)

    def _use(self):
        if self.out_dir:
            self.model_ready.emit(self.out_dir)
        self.accept()

    def is_running(self):
        return self.proc is not None and self.proc.state() != QProcess.ProcessState.NotRunning

    def done(self, r):
        self.cancel()
        super().done(r)

    def closeEvent(self, ev):
        self.cancel()
        super().closeEvent(ev)


ROWS = (("val_at_far_0.01", "same-subject pairs found at 1% false matches"),
        ("recall_at_precision_0.99", "same-subject pairs found at 99% precision"),
        ("auc", "ROC area"),
        ("pos_mean", "average score of same-subject pairs"),
        ("neg_mean", "average score of different-subject pairs"))


def comparison_html(before: dict | None, after: dict | None, thr_before=None, thr_after=None) -> str:
    """What the new model changed, on the validation subjects (held out from training)."""
    before, after = before or {}, after or {}
    rows = []
    for key, label in ROWS:
        b, a = before.get(key), after.get(key)
        if a is None:
            continue
        rows.append(f"<tr><td>{label}</td><td align='right'>{_fmt(b)}</td>"
                    f"<td align='right'><b>{_fmt(a)}</b></td></tr>")
    for name in ("duplicate", "similar"):
        b, a = (thr_before or {}).get(name), (thr_after or {}).get(name)
        if a is not None:
            rows.append(f"<tr><td>{name} threshold (score)</td><td align='right'>{_fmt(b, 1)}</td>"
                        f"<td align='right'><b>{_fmt(a, 1)}</b></td></tr>")
    return ("<p>On your validation subjects (not used for training):</p>"
            "<table cellspacing='0' cellpadding='3'><tr><th></th><th>current model</th>"
            "<th>new model</th></tr>" + "".join(rows) + "</table>")


def _fmt(v, digits=3):
    if isinstance(v, (int, float)):
        return f"{v:.{digits}f}"
    return "—"


def _duration(s):
    s = int(s)
    return f"{s // 3600}h {s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"
