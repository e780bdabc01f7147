"""The main window: folders, scan with progress, groups with the threshold slider, members,
compare, similar, problems, safe actions.

All engine work that can take long (scan, grouper rebuild, trash/move, compare, similar)
runs in `JobRunner` jobs, each opening its own `Library`; the GUI thread keeps one read-only
`Library` for the quick calls (regroup on a slider move, describing the rows on screen).
Modal questions go through `confirm` and `ask_directory`, which tests replace.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHeaderView, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSplitter, QStackedWidget, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from lookalike.core import actions
from lookalike.core.bundle import BundleError
from lookalike.core.library import Library, LibraryError

from . import marking
from .compare import CompareView
from .folders import FolderPanel
from .groups import INDICATOR_CSS, GroupsPage
from .models import human_size
from .settings import Settings
from .similar import SimilarView
from .thumbs import ThumbLoader
from .workers import JobRunner
from .words import count

log = logging.getLogger(__name__)

STAGES = {"discover": "Finding photos", "hash": "Finding exact copies", "embed": "Reading photos",
          "index": "Indexing", "neighbours": "Matching", "verify": "Checking pairs",
          "group": "Grouping"}
RULE_LABELS = {"highest_resolution": "keep highest resolution", "largest": "keep largest file",
               "oldest": "keep oldest", "newest": "keep newest",
               "protected": "keep the protected one"}


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


def _import_opencv_once():
    """Import OpenCV in one thread before the scan's decode threads need it: two threads doing
    the first `import cv2` at once can see the module without `cv2.data` (face crops then fail
    with AttributeError). TODO(engine): core/faces.py should import under a lock."""
    try:
        import cv2  # noqa: F401
        import cv2.data  # noqa: F401
    except ImportError:
        pass


def _load_state(lib, bundle):
    """(grouper, file table) of a library, or None when it was never scanned with this model."""
    try:
        grouper = lib.grouper(bundle)
    except LibraryError:
        return None
    return grouper, lib.file_table()


class MainWindow(QMainWindow):
    groups_changed = Signal()          # the groups list was rebuilt (regroup, filter, load)
    library_loaded = Signal()          # grouper and facts are (re)loaded
    scan_finished = Signal(object)     # ScanStats
    scan_failed = Signal(str)
    scan_cancelled = Signal()
    action_finished = Signal(object)   # core.actions.Outcome
    message = Signal(str)              # everything shown to the user in the status line
    folders_changed = Signal()         # a folder was added or (un)protected (written to the library)

    def __init__(self, settings: Settings | None = None, library_dir=None, model_dir=None, trash_func=None,
                 retrain_command=None, has_torch=None, parent=None):
        super().__init__(parent)
        self.settings = settings or Settings.load()
        self.library_override = library_dir
        self.model_override = model_dir
        self.trash_func = trash_func                # None: the system trash (send2trash)
        self.retrain_command = retrain_command
        self.has_torch = has_torch
        self.confirm = self._confirm_dialog
        self.ask_directory = self._ask_directory
        self.lib: Library | None = None
        self.bundle = None
        self.marks: set[str] = set()
        self.last_message = ""
        self._load_gen = itertools.count()
        self._current_load = -1
        self._scan_job = None
        self._pending_roots: set[str] = set()      # folders added, their write still queued

        self.setWindowTitle("Lookalike")
        self.setAcceptDrops(True)
        self.jobs = JobRunner(self, threads=2)
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

        self.compare = CompareView(self.jobs, lambda: self.bundle, lambda: self.slider.value(), self)
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
    def library_dir(self) -> Path:
        if self.lib is not None:
            return self.lib.dir
        from lookalike.core.library import default_library_dir
        d = self.library_override or self.settings.library_dir
        return Path(d).expanduser() if d else default_library_dir()

    def open_library(self):
        """(Re)open the library and model named by the settings, then load the groups."""
        if self.lib is not None:
            self.lib.close()
            self.lib = None
        d = self.library_override or self.settings.library_dir
        try:
            self.lib = Library(d)
        except LibraryError as exc:
            self.show_message(str(exc), error=True)
            return
        self.banner.setVisible(False)
        self.load_bundle()
        self.refresh_folders()
        self.reload()

    def load_bundle(self):
        try:
            b = self.lib.bundle(self.model_override or self.settings.model_dir)
        except BundleError as exc:
            self.bundle = None
            self.show_message(f"{exc}. Choose another model in Settings.", error=True)
            return
        if self.settings.face_mode and b.preprocess != "face":
            b = dataclasses.replace(b, preprocess="face")
        self.bundle = b
        t = b.thresholds
        self.slider.set_marks(t["duplicate"], t.get("similar", t["duplicate"]))
        start = self.settings.threshold if self.settings.threshold is not None else t["duplicate"]
        self.slider.blockSignals(True)
        self.slider.set_value(start)
        self.slider.blockSignals(False)
        self.slider.label.setText(f"score ≥ {self.slider.value():.1f}")
        self.setWindowTitle(f"Lookalike — {b.display_name}{' (faces)' if b.preprocess == 'face' else ''}")

    def _describe(self):
        """Describes rows of the groups list (their groups come keeper first)."""
        lib = self.lib
        return lambda groups: lib.describe_groups(groups, presorted=True)

    def refresh_folders(self):
        if self.lib is not None:
            self.folders.set_folders(self.lib.catalog.roots(), self.lib.catalog.protected(), self.lib.offline_roots())

    def reload(self):
        """Rebuild the grouper and the file facts in the background."""
        if self.lib is None or self.bundle is None:
            return
        gen = next(self._load_gen)
        self._current_load = gen
        lib_dir, bundle = str(self.lib.dir), self.bundle

        def work(_p, _c):
            with Library(lib_dir) as lib:
                return _load_state(lib, bundle)

        self.jobs.start(work, name="load", done=lambda res: self._loaded(gen, res),
                        failed=lambda msg: self.show_message(msg, error=True))

    def _loaded(self, gen, res):
        if gen != self._current_load:
            return
        grouper, facts = res if res is not None else (None, None)
        self.thumbs.forget()
        self.page.set_state(grouper, facts, self._describe() if self.lib else None)
        self.refresh_problems()
        if res is None:
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
        dirs = [os.path.abspath(d) for d in dirs if os.path.isdir(d)]
        if not dirs or self.lib is None:
            return
        self._pending_roots.update(dirs)

        def done(_):
            self._pending_roots.difference_update(dirs)
            self.refresh_folders()
            self.show_message(f"Added {', '.join(os.path.basename(d) or d for d in dirs)}. "
                              f"Press Scan to read the photos.")
            self.folders_changed.emit()

        self._write(lambda w: w.add_roots(dirs), "add-folder", done)

    def _write(self, fn, name, done=None):
        """Run `fn(writable library)` on the window's single writer thread (core's one-writer rule)."""
        lib_dir = str(self.lib.dir)

        def work(_p, _c):
            with Library(lib_dir, write=True) as w:
                return fn(w)

        def failed(msg):
            self._pending_roots.clear()
            self.show_message(msg, error=True)

        return self.jobs.start(work, name=name, done=done, failed=failed, writes=True)

    def remove_folder(self, path):
        if self.lib is None:
            return
        if path not in self.lib.catalog.roots():
            self.set_protected(path, False)
            return

        def done(n):
            self.refresh_folders()
            self.show_message(f"Removed {path} from the library ({n} photos forgotten; the files are untouched).")
            self.reload()

        self._write(lambda w: w.remove_root(path), "remove-folder", done)

    def set_protected(self, path, on):
        if self.lib is None:
            return

        def done(_):
            self.refresh_folders()
            self.show_message(f"{path} is {'protected: nothing in it will be trashed or moved' if on else 'no longer protected'}.")
            self.folders_changed.emit()

        self._write(lambda w: w.set_protected(path, on), "protect", done)

    def _protect_dialog(self):
        d = self.ask_directory("Protect a folder")
        if d:
            self.set_protected(os.path.abspath(d), True)

    # ------------------------------------------------------------------ scanning
    def is_scanning(self) -> bool:
        return self._scan_job is not None

    def start_scan(self):
        if self._scan_job is not None or self.lib is None:
            return
        if self.bundle is None:
            self.show_message("No usable model: choose one in Settings.", error=True)
            return
        if not self.lib.catalog.roots() and not self._pending_roots:
            self.show_message("Add a photo folder first (button or drag it here).", error=True)
            return
        lib_dir, bundle = str(self.lib.dir), self.bundle

        def work(progress, cancel):
            if bundle.preprocess == "face":
                _import_opencv_once()
            with Library(lib_dir, write=True) as w:
                stats = w.scan(None, bundle, progress=progress, cancel=cancel)
                return stats, _load_state(w, bundle)

        self._scan_counts = {}
        self._scan_job = self.jobs.start(work, name="scan", progress=self._scan_progress, done=self._scan_done,
                                         failed=self._scan_failed, cancelled=self._scan_cancelled, writes=True)
        self._scan_job.signals.finished.connect(self._scan_ended)
        self.scan_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        self.stop_button.setVisible(True)
        self.stop_button.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.stage_label.setText("Starting scan…")
        self.banner.setVisible(False)

    def cancel_scan(self):
        if self._scan_job is not None:
            self._scan_job.cancel()
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

    def _scan_done(self, res):
        stats, state = res
        if state is not None:
            self.thumbs.forget()
            self.page.set_state(*state, self._describe())
        self.refresh_problems()
        self.refresh_folders()
        n_prob = self.problems_table.rowCount()
        self.show_message(f"Scan done: {stats.found:,} photos ({stats.added:,} new, {stats.changed:,} changed, "
                          f"{stats.removed:,} removed, {stats.embedded:,} read), "
                          f"{count(len(self.groups_model.arrays), 'group')}"
                          + (f", {count(n_prob, 'problem')} (see the Problems tab)" if n_prob else "")
                          + (f"; offline, kept as they were: {', '.join(stats.offline)}" if stats.offline else "")
                          + ".")
        self.scan_finished.emit(stats)

    def _scan_failed(self, msg):
        self.show_message(f"Scan failed: {msg}", error=True)
        self.scan_failed.emit(msg)

    def _scan_cancelled(self):
        self.show_message("Scan stopped. Everything read so far is kept: press Scan to resume.")
        self.reload()
        self.scan_cancelled.emit()

    def _scan_ended(self):
        self._scan_job = None
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
        if self.lib is None or not len(self.groups_model.arrays):
            return
        self.settings.rule = rule
        marked = marking.mark_all(self.lib, self.groups_model.arrays, rule)
        self.marks.clear()
        self.marks.update(marked)
        self.page.refresh_marks()
        self.show_message(f"Marked {len(marked):,} photos ({RULE_LABELS.get(rule, rule)}).")

    def clear_marks(self):
        self.marks.clear()
        self.page.refresh_marks()
        self.show_message("No photos marked.")

    def _plan(self):
        if self.lib is None:
            return None
        if not self.marks:
            self.show_message("Nothing is marked: mark copies with Space or a rule first.")
            return None
        return marking.plan(self.lib, self.groups_model.arrays, self.marks)

    def _refusals(self, plan) -> str:
        return marking.refusals(plan)

    def trash_marked(self):
        plan = self._plan()
        if plan is None:
            return
        if not plan.ok:
            self.show_message("None of the marked photos can be removed. " + self._refusals(plan).replace("\n", "; "))
            return
        where = "to the test trash" if self.trash_func is not None else "to the trash"
        text = f"Move {len(plan.ok):,} photos ({human_size(plan.bytes)}) {where}?"
        if plan.refused:
            text += f"\n{len(plan.refused)} marked photos are kept (details below)."
        if not self.confirm("Move to trash", text, self._refusals(plan)):
            return
        trash_func = self.trash_func
        self._run_action(lambda w: actions.trash(w, plan, trash_func=trash_func), "moved to the trash", plan)

    def move_marked(self):
        plan = self._plan()
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
        self._run_action(lambda w: actions.move(w, plan, dest), f"moved to {dest}", plan)

    def _run_action(self, fn, verb, plan):
        lib_dir, bundle = str(self.lib.dir), self.bundle

        def work(_p, _c):
            with Library(lib_dir, write=True) as w:
                out = fn(w)
                return out, _load_state(w, bundle)

        def done(res):
            out, state = res
            for src, _dst in out.done:
                self.marks.discard(src)
            if state is not None:
                self.page.set_state(*state, self._describe())
            else:
                self.regroup()
            msg = f"{len(out.done):,} photos {verb}."
            if out.failed:
                msg += f" {len(out.failed)} failed: " + "; ".join(f"{os.path.basename(p)}: {r}" for p, r in out.failed[:5])
            self.show_message(msg, error=bool(out.failed))
            self.action_finished.emit(out)

        self.jobs.start(work, name="action", done=done, writes=True,
                        failed=lambda m: self.show_message(m, error=True))

    def undo_move(self):
        if self.lib is None:
            return
        lib_dir = str(self.lib.dir)

        def work(_p, _c):
            with Library(lib_dir, write=True) as w:
                return actions.undo_last(w)

        def done(out):
            self.show_message(f"{len(out.done)} photos moved back; scanning to show them again.")
            self.action_finished.emit(out)
            self.start_scan()

        self.jobs.start(work, name="undo", done=done, writes=True,
                        failed=lambda m: self.show_message(m, error=True))

    def not_duplicate(self):
        """The selected members (or the whole group) are not copies of each other: stored, never grouped again."""
        if self.lib is None:
            return
        sel = self.selected_members()
        members = sel if len(sel) >= 2 else self.members_model.items
        if len(members) < 2:
            self.show_message("Select a group (or two photos in it) first.")
            return
        paths = [m.path for m in members]
        for p in paths:
            self.marks.discard(p)
        lib_dir = str(self.lib.dir)

        def work(_p, _c):
            with Library(lib_dir, write=True) as w:
                return w.not_duplicate(paths)

        def done(_n):
            self.show_message(f"{len(paths)} photos will not be grouped together again.")
            self.reload()

        self.jobs.start(work, name="not-duplicate", done=done, writes=True,
                        failed=lambda m: self.show_message(m, error=True))

    def export_groups(self):
        if self.lib is None or not len(self.groups_model.arrays):
            self.show_message("No groups to export.")
            return
        path, flt = QFileDialog.getSaveFileName(self, "Export groups", "groups.csv", "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        arrays = self.groups_model.arrays
        described = marking.described(self.lib, arrays, range(len(arrays)))
        actions.export_groups(described, path, fmt="json" if path.endswith(".json") else "csv")
        self.show_message(f"{len(described):,} groups written to {path}.")

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
        rows = self.lib.problems() if self.lib is not None else []
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
            self.model_override = None
        if self.settings.library_dir != before[0]:
            self.library_override = None
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
        self.model_override = None          # the user's choice now beats --model
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
        self.jobs.shutdown()
        self.thumbs.shutdown()
        if self.lib is not None:
            self.lib.close()
            self.lib = None

    def closeEvent(self, ev):
        self.shutdown()
        super().closeEvent(ev)
