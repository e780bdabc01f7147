"""The main window: layout and wiring of folders, scan progress, groups with the threshold
slider, members, compare, similar, problems and the safe actions.

The state (library, model bundle, results shown, marks, jobs) and every operation on it live
in `Controller` (app/controller.py, no widgets); the window renders its signals and asks the
user's questions. Modal questions go through `confirm` and `ask_directory`, which tests replace.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHeaderView, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSplitter, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from . import marking
from .compare import CompareView
from .controller import RULE_LABELS, Controller
from .folders import FolderPanel
from .groups import INDICATOR_CSS, GroupsPage
from .models import human_size
from .settings import Settings
from .similar import SimilarView
from .thumbs import ThumbLoader
from .words import count

log = logging.getLogger(__name__)

STAGES = {"discover": "Finding photos", "hash": "Finding exact copies", "embed": "Reading photos",
          "index": "Indexing", "neighbours": "Matching", "verify": "Checking pairs",
          "group": "Grouping"}


def _duration(s: float) -> str:
    s = int(s)
    if s >= 3600:
        return f"{s // 3600} h {s // 60 % 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def file_url(path: str) -> str:
    """A file:// URL of the path's exact bytes, percent-encoded (QUrl.fromLocalFile would go
    through a QString and lose the bytes of a name that is not UTF-8)."""
    from urllib.parse import quote
    return "file://" + quote(os.fsencode(os.path.abspath(path)))


class MainWindow(QMainWindow):
    groups_changed = Signal()          # the groups list was rebuilt (regroup, filter, load)
    library_loaded = Signal()          # grouper and file table are (re)loaded and shown
    scan_finished = Signal(object)     # ScanStats, after the window shows the new groups
    message = Signal(str)              # everything shown to the user in the status line

    def __init__(self, settings: Settings | None = None, library_dir=None, model_dir=None, trash_func=None,
                 retrain_command=None, has_torch=None, parent=None):
        super().__init__(parent)
        self.settings = settings or Settings.load()
        self.retrain_command = retrain_command
        self.has_torch = has_torch
        self.confirm = self._confirm_dialog
        self.ask_directory = self._ask_directory
        self.last_message = ""
        c = self.controller = Controller(self.settings, library_dir, model_dir, trash_func, self)
        self.jobs, self.marks = c.jobs, c.marks
        # the controller's signals, as the window's (tests and callers wait on them)
        self.scan_failed, self.scan_cancelled = c.scan_failed, c.scan_cancelled
        self.action_finished, self.folders_changed = c.action_finished, c.folders_changed

        self.setWindowTitle("Lookalike")
        self.setAcceptDrops(True)
        self.thumbs = ThumbLoader(self.settings.thumb_dir(), self, threads=2)
        self._build()
        self._thumb_timer = QTimer(self, singleShot=True, interval=40)
        self._thumb_timer.timeout.connect(self._repaint_thumbs)
        self.thumbs.ready.connect(lambda _p: self._thumb_timer.isActive() or self._thumb_timer.start())
        if self.settings.geometry:
            try:
                self.restoreGeometry(bytes.fromhex(self.settings.geometry))
            except ValueError:
                pass
        else:
            self.resize(1280, 820)
        c.message.connect(self.show_message)
        c.bundle_changed.connect(self._bundle_changed)
        c.loaded.connect(self._loaded)
        c.folders_changed.connect(self.refresh_folders)
        c.marks_changed.connect(lambda: self.page.refresh_marks())
        c.scan_started.connect(self._scan_started)
        c.scan_progress.connect(self._scan_progress)
        c.scan_finished.connect(self._scan_done)
        c.scan_ended.connect(self._scan_ended)
        self.groups_changed.connect(lambda: setattr(c, "results", self.groups_model.arrays))
        self.open_library()

    # ------------------------------------------------------------------ construction
    def _build(self):
        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(tb)

        def action(text, slot, shortcut=None, tip=None):
            a = QAction(text, self)
            a.triggered.connect(slot)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if tip:
                a.setToolTip(tip)
                a.setStatusTip(tip)
            self.addAction(a)
            return a

        self.add_action = action("Add folder…", self.add_folder_dialog, tip="Add a photo folder")
        self.scan_action = action("Scan", self.start_scan, "F5", "Find new and changed photos (resumes a stopped scan)")
        self.cancel_action = action("Stop", self.cancel_scan, tip="Stop the scan; what was read is kept")
        self.cancel_action.setEnabled(False)
        self.compare_action = action("Compare", self.compare_selected, "Return",
                                     "Compare two members of the group side by side")
        self.similar_action = action("Similar…", self.find_similar, QKeySequence.StandardKey.Find,
                                     "Photos most like the selected one (Ctrl+F)")
        self.trash_action = action("Trash marked…", self.trash_marked, QKeySequence.StandardKey.Delete,
                                   "Send the marked photos to the trash (Delete)")
        self.trash_action.setIconText("Trash…")        # the toolbar's short label; menus say it in full
        self.move_action = action("Move marked…", self.move_marked, tip="Move the marked photos to a folder")
        self.move_action.setIconText("Move…")
        self.undo_action = action("Undo move", self.undo_move, tip="Move the last moved photos back")
        self.notdup_action = action("Not a duplicate", self.not_duplicate,
                                    tip="These photos are not copies: never group them again")
        self.export_action = action("Export…", self.export_groups, tip="Save the groups as CSV or JSON")
        self.retrain_action = action("Retrain…", self.open_retrain, tip="Train the model on your labelled folders")
        self.settings_action = action("Settings…", self.open_settings)
        self.rule_box = QComboBox(self)
        for key, label in RULE_LABELS.items():
            self.rule_box.addItem(label, key)
        idx = self.rule_box.findData(self.settings.rule)
        self.rule_box.setCurrentIndex(max(idx, 0))
        self.rule_box.setToolTip("Rule for marking copies in every group")
        # as wide as its longest label needs, not wider: the toolbar fits a 1024-pixel window
        self.rule_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.mark_rule_button = QPushButton("Mark by rule", self)
        self.mark_rule_button.clicked.connect(lambda: self.mark_by_rule(self.rule_box.currentData()))
        self.clear_marks_button = QPushButton("Clear marks", self)
        self.clear_marks_button.clicked.connect(self.clear_marks)

        for a in (self.add_action, self.scan_action, self.cancel_action):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.compare_action, self.similar_action):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(self.rule_box)
        tb.addWidget(self.mark_rule_button)
        tb.addWidget(self.clear_marks_button)
        for a in (self.trash_action, self.move_action):     # "Not a duplicate": on the group's pane
            tb.addAction(a)
        self.toolbar = tb

        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit)
        menus = self.menuBar()
        m = menus.addMenu("&Library")
        for a in (self.add_action, self.scan_action, self.cancel_action, None, self.export_action,
                  self.settings_action, None, self.quit_action):
            m.addSeparator() if a is None else m.addAction(a)
        m = menus.addMenu("&Photos")
        for a in (self.compare_action, self.similar_action, None, self.trash_action, self.move_action,
                  self.undo_action, None, self.notdup_action):
            m.addSeparator() if a is None else m.addAction(a)
        m = menus.addMenu("&Model")
        m.addAction(self.retrain_action)

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setStyleSheet("QLabel { background: #7a2b22; color: white; padding: 6px; border-radius: 3px; }")
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # folders
        self.folders = FolderPanel(self)
        self.folders.list.setStyleSheet(INDICATOR_CSS % "#3a9d5d")         # protected: green
        self.folders.add_requested.connect(self.add_folder_dialog)
        self.folders.remove_requested.connect(self.remove_folder)
        self.folders.protect_changed.connect(self.set_protected)
        self.folders.protect_requested.connect(self._protect_dialog)
        self.folders.folders_dropped.connect(self.add_folders)

        # groups
        page = self.page = GroupsPage(self.jobs, self.thumbs, self.marks, self)
        self.slider, self.exact_box, self.summary = page.slider, page.exact_box, page.summary
        self.groups_model, self.groups_view = page.groups_model, page.groups_view
        self.members_model, self.members_view = page.members_model, page.members_view
        page.groups_changed.connect(self.groups_changed)
        page.marks_changed.connect(lambda: self.show_message(f"{len(self.marks):,} photos marked."))
        page.open_requested.connect(self.open_in_viewer)
        page.reveal_requested.connect(self.reveal)
        page.compare_requested.connect(self.compare_selected)
        page.not_duplicate_requested.connect(self.not_duplicate)
        page.failed.connect(lambda msg: self.show_message(msg, error=True))
        self.slider.changed.connect(lambda _t: self.compare.update_verdict())

        self.compare = CompareView(self.jobs, lambda: self.bundle, lambda: self.slider.value(), self,
                                   library_fn=lambda: str(self.library_dir))
        self.similar = SimilarView(self.jobs, self.thumbs, lambda: str(self.library_dir), lambda: self.bundle, self)
        self.similar.compare_requested.connect(self.show_compare)
        self.problems_table = QTableWidget(0, 2, self)
        self.problems_table.setHorizontalHeaderLabels(["File", "Why it could not be read"])
        self.problems_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.problems_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.problems_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.problems_empty = QLabel("No problems: every photo found so far could be read.\n\n"
                                     "Files that cannot be read (damaged, empty, not really a photo, "
                                     "unreadable) are listed here with the reason; a scan never stops "
                                     "for them.", self)
        self.problems_empty.setWordWrap(True)
        self.problems_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.problems_page = QStackedWidget(self)
        self.problems_page.addWidget(self.problems_empty)
        self.problems_page.addWidget(self.problems_table)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(page, "Groups")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.similar, "Similar")
        self.tabs.addTab(self.problems_page, "Problems")

        outer = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(self.folders)
        outer.addWidget(self.tabs)
        outer.setStretchFactor(1, 1)
        outer.setSizes([180, 1140])
        central = QWidget(self)
        clay = QVBoxLayout(central)
        clay.setContentsMargins(4, 4, 4, 4)
        clay.addWidget(self.banner)
        clay.addWidget(outer, 1)
        self.setCentralWidget(central)

        # scan progress in the status bar
        self.stage_label = QLabel("", self)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(280)
        self.progress.setVisible(False)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.clicked.connect(self.cancel_scan)
        self.stop_button.setVisible(False)
        self.statusBar().addPermanentWidget(self.stage_label)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.stop_button)

    # ------------------------------------------------------------------ messages
    def show_message(self, text: str, error: bool = False):
        self.last_message = text
        self.statusBar().showMessage(text, 0 if error else 15000)
        self.banner.setVisible(error)
        if error:
            self.banner.setText(text)
        self.message.emit(text)

    def _confirm_dialog(self, title: str, text: str, detail: str = "") -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel, self)
        if detail:
            box.setDetailedText(detail)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Ok

    def _ask_directory(self, title: str, start: str = "") -> str | None:
        return QFileDialog.getExistingDirectory(self, title, start) or None

    # ------------------------------------------------------------------ library
    @property
    def lib(self):
        return self.controller.lib

    @property
    def bundle(self):
        return self.controller.bundle

    @property
    def library_dir(self) -> Path:
        return self.controller.library_dir

    def open_library(self):
        """(Re)open the library and model named by the settings, then load the groups."""
        if self.controller.open_library():
            self.banner.setVisible(False)

    def _bundle_changed(self):
        b = self.bundle
        if b is None:
            return
        t = b.thresholds
        self.slider.set_marks(t["duplicate"], t.get("similar", t["duplicate"]))
        start = self.settings.threshold if self.settings.threshold is not None else t["duplicate"]
        self.slider.blockSignals(True)
        self.slider.set_value(start)
        self.slider.blockSignals(False)
        self.slider.label.setText(f"score ≥ {self.slider.value():.1f}")
        self.setWindowTitle(f"Lookalike — {b.display_name}{' (faces)' if b.preprocess == 'face' else ''}")

    def load_bundle(self):
        self.controller.load_bundle()

    def refresh_folders(self):
        self.folders.set_folders(*self.controller.folders())

    def reload(self):
        """Rebuild the grouper and the file table in the background."""
        self.controller.reload()

    def _loaded(self, state):
        self.thumbs.forget()
        grouper, table = state if state is not None else (None, None)
        self.page.set_state(grouper, table, self.controller.describe() if self.lib else None)
        self.refresh_problems()
        if state is None:
            roots = self.lib.catalog.roots() if self.lib else []
            self.summary.setText("Not scanned with this model yet: press Scan." if roots else
                                 "Add a photo folder (button or drag it here), then press Scan.")
        self.library_loaded.emit()

    # ------------------------------------------------------------------ folders
    def add_folder_dialog(self):
        d = self.ask_directory("Add a photo folder")
        if d:
            self.add_folders([d])

    def add_folders(self, dirs):
        self.controller.add_folders(dirs)

    def remove_folder(self, path):
        self.controller.remove_folder(path)

    def set_protected(self, path, on):
        self.controller.set_protected(path, on)

    def _protect_dialog(self):
        d = self.ask_directory("Protect a folder")
        if d:
            self.set_protected(os.path.abspath(d), True)

    # ------------------------------------------------------------------ scanning
    def is_scanning(self) -> bool:
        return self.controller.is_scanning()

    def start_scan(self):
        self.controller.start_scan()

    def _scan_started(self):
        self._scan_counts = {}
        self.scan_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.stop_button.setVisible(True)
        self.stop_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.stage_label.setText("Starting scan…")
        self.banner.setVisible(False)

    def cancel_scan(self):
        if self.controller.cancel_scan():
            self.stop_button.setEnabled(False)
            self.cancel_action.setEnabled(False)
            self.stage_label.setText("Stopping…")

    def _scan_progress(self, ev):
        label = STAGES.get(ev.stage, ev.stage)
        self._scan_counts[ev.stage] = ev.done
        if ev.total:
            self.progress.setRange(0, ev.total)
            self.progress.setValue(min(ev.done, ev.total))
            text = f"{label}: {ev.done:,} of {ev.total:,}"
            if ev.rate > 0:
                text += f" · {ev.rate:,.1f}/s · about {_duration((ev.total - ev.done) / ev.rate)} left"
        else:
            self.progress.setRange(0, 0)
            text = f"{label}: {ev.done:,}"
        found = self._scan_counts.get("discover")
        if found and ev.stage != "discover":
            text = f"{found:,} files found · " + text
        self.stage_label.setText(text)

    def _scan_done(self, stats):
        self.refresh_problems()
        n_prob = self.problems_table.rowCount()
        self.show_message(f"Scan done: {stats.found:,} photos ({stats.added:,} new, {stats.changed:,} changed, "
                          f"{stats.removed:,} removed, {stats.embedded:,} read), "
                          f"{count(len(self.groups_model.arrays), 'group')}"
                          + (f", {count(n_prob, 'problem')} (see the Problems tab)" if n_prob else "")
                          + (f"; offline, kept as they were: {', '.join(stats.offline)}" if stats.offline else "")
                          + ".")
        self.scan_finished.emit(stats)

    def _scan_ended(self):
        self.scan_action.setEnabled(True)
        self.cancel_action.setEnabled(False)
        self.stop_button.setVisible(False)
        self.progress.setVisible(False)
        self.stage_label.setText("")

    # ------------------------------------------------------------------ grouping
    @property
    def threshold(self) -> float:
        return self.slider.value()

    @property
    def grouper(self):
        return self.page.grouper

    @property
    def facts(self):
        return self.page.facts

    def regroup(self):
        self.page.regroup()

    def current_group_row(self) -> int:
        return self.page.current_group_row()

    def selected_members(self):
        return self.page.selected_members()

    def toggle_current_mark(self):
        self.page.toggle_current_mark()

    # ------------------------------------------------------------------ marking and actions
    def mark_by_rule(self, rule: str):
        """Mark, in every group shown, all copies but the one the rule keeps."""
        self.controller.mark_by_rule(rule)

    def clear_marks(self):
        self.controller.clear_marks()

    def _refusals(self, plan) -> str:
        return marking.refusals(plan)

    def trash_marked(self):
        plan = self.controller.plan()
        if plan is None:
            return
        if not plan.ok:
            self.show_message("None of the marked photos can be removed. " + self._refusals(plan).replace("\n", "; "))
            return
        where = "to the test trash" if self.controller.trash_func is not None else "to the trash"
        text = f"Move {len(plan.ok):,} photos ({human_size(plan.bytes)}) {where}?"
        if plan.refused:
            text += f"\n{len(plan.refused)} marked photos are kept (details below)."
        if self.confirm("Move to trash", text, self._refusals(plan)):
            self.controller.trash(plan)

    def move_marked(self):
        plan = self.controller.plan()
        if plan is None:
            return
        if not plan.ok:
            self.show_message("None of the marked photos can be moved. " + self._refusals(plan).replace("\n", "; "))
            return
        dest = self.ask_directory("Move the marked photos to…", self.settings.recent_move_dir)
        if not dest:
            return
        text = f"Move {len(plan.ok):,} photos ({human_size(plan.bytes)}) to {dest}?"
        if not self.confirm("Move photos", text, self._refusals(plan)):
            return
        self.settings.recent_move_dir = dest
        self.controller.move(plan, dest)

    def undo_move(self):
        self.controller.undo_move()

    def not_duplicate(self):
        """The selected members (or the whole group) are not copies of each other: stored, never grouped again."""
        sel = self.selected_members()
        self.controller.not_duplicate(sel if len(sel) >= 2 else self.members_model.items)

    def export_groups(self):
        if self.lib is None or not len(self.groups_model.arrays):
            self.show_message("No groups to export.")
            return
        path, _flt = QFileDialog.getSaveFileName(self, "Export groups", "groups.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self.controller.export(path)

    # ------------------------------------------------------------------ compare, similar, viewer
    def compare_selected(self):
        sel = self.selected_members()
        items = self.members_model.items
        if len(sel) >= 2:
            a, b = sel[0].path, sel[1].path
        elif len(sel) == 1 and len(items) >= 2:
            a = items[0].path if sel[0].path != items[0].path else items[1].path
            b = sel[0].path
            if a == items[1].path and b == items[0].path:
                a, b = b, a
        elif len(items) >= 2:
            a, b = items[0].path, items[1].path
        else:
            self.tabs.setCurrentWidget(self.compare)
            return
        self.show_compare(a, b)

    def show_compare(self, a, b):
        self.tabs.setCurrentWidget(self.compare)
        self.compare.set_files(a, b)

    def find_similar(self):
        self.tabs.setCurrentWidget(self.similar)
        sel = self.selected_members()
        if sel and self.tabs.currentWidget() is self.similar and self.similar.query != sel[0].path:
            self.similar.search(sel[0].path)
        elif not sel:
            self.similar.choose()

    def open_in_viewer(self, path):
        QDesktopServices.openUrl(QUrl(file_url(path)))

    def reveal(self, path):
        from PySide6.QtCore import QProcess
        if sys.platform == "darwin":
            ok = QProcess.startDetached("open", ["-R", path])
        elif sys.platform.startswith("win"):
            ok = QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])
        else:
            ok = QProcess.startDetached("dbus-send", [
                "--session", "--type=method_call", "--dest=org.freedesktop.FileManager1",
                "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
                f"array:string:{file_url(path)}", "string:"])
        if not ok:
            QDesktopServices.openUrl(QUrl(file_url(os.path.dirname(path))))

    def refresh_problems(self):
        rows = self.controller.problems()
        self.problems_table.setRowCount(len(rows))
        for r, (p, why) in enumerate(rows):
            item = QTableWidgetItem(p)
            item.setToolTip(p)
            self.problems_table.setItem(r, 0, item)
            self.problems_table.setItem(r, 1, QTableWidgetItem(why))
        self.problems_page.setCurrentWidget(self.problems_table if rows else self.problems_empty)
        self.tabs.setTabText(self.tabs.indexOf(self.problems_table), f"Problems ({len(rows)})" if rows else "Problems")

    def _repaint_thumbs(self):
        self.page.repaint_thumbs()

    # ------------------------------------------------------------------ dialogs
    def open_settings(self):
        from .settings_dialog import SettingsDialog
        from .theme import apply_theme
        from PySide6.QtWidgets import QApplication
        before = (self.settings.library_dir, self.settings.model_dir, self.settings.face_mode)
        dlg = SettingsDialog(self.settings, self)
        if dlg.exec() != SettingsDialog.DialogCode.Accepted:
            return
        dlg.apply()
        apply_theme(QApplication.instance(), self.settings.theme)
        self.thumbs.cache_dir = self.settings.thumb_dir()
        if self.settings.model_dir != before[1]:
            self.controller.model_override = None
        if self.settings.library_dir != before[0]:
            self.controller.library_override = None
        if (self.settings.library_dir, self.settings.model_dir, self.settings.face_mode) != before:
            self.apply_settings_change(before[0] != self.settings.library_dir)

    def apply_settings_change(self, library_changed: bool):
        """Reopen the library or reload the model after the settings changed; a new model or face
        mode re-reads in the background only what has no vector for it yet."""
        if library_changed:
            self.open_library()
        else:
            self.load_bundle()
            self.reload()
        if self.lib is not None and self.lib.catalog.roots() and self.bundle is not None:
            self.start_scan()

    def open_retrain(self):
        from .retrain import RetrainDialog, torch_available, trainer_command
        current = str(self.bundle.path) if self.bundle is not None else None
        dlg = RetrainDialog(current, self, command=self.retrain_command or trainer_command,
                            has_torch=self.has_torch or torch_available)
        dlg.model_ready.connect(self.use_model)
        self.retrain_dialog = dlg
        dlg.show()
        return dlg

    def use_model(self, path):
        self.settings.model_dir = str(path)
        self.settings.save()
        self.controller.model_override = None          # the user's choice now beats --model
        self.show_message(f"Switched to the model in {path}; re-reading the photos in the background.")
        self.apply_settings_change(False)

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, ev):
        if any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        dirs = [p for p in paths if os.path.isdir(p)]
        files = [p for p in paths if os.path.isfile(p)]
        if dirs:
            self.add_folders(dirs)
        elif len(files) >= 2:
            self.show_compare(files[0], files[1])
        elif files:
            self.tabs.setCurrentWidget(self.similar)
            self.similar.search(files[0])
        ev.acceptProposedAction()

    # ------------------------------------------------------------------ shutdown
    def shutdown(self):
        """Stop background work (asking, never killing) and save the settings."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.settings.geometry = bytes(self.saveGeometry()).hex()
        if self.bundle is not None:
            t = self.slider.value()
            self.settings.threshold = None if abs(t - self.bundle.thresholds["duplicate"]) < 1e-6 else t
        self.settings.save()
        self._thumb_timer.stop()
        self.page.close()
        dlg = getattr(self, "retrain_dialog", None)
        if dlg is not None:
            dlg.cancel()
        self.controller.shutdown()
        self.thumbs.shutdown()

    def closeEvent(self, ev):
        self.shutdown()
        super().closeEvent(ev)
