"""The window's state without widgets: library, model bundle, results shown, marks and jobs.

`MainWindow` lays out widgets and wires them to this object; tests drive it with no window
at all. Reads go through one read-only `Library` (quick calls on the GUI thread); every write
(scan, folders, protection, "not a duplicate", trash, move, undo) runs on the `JobRunner`'s
single writer thread through a `Library(write=True)`, so the window never has two writers
and never blocks on the catalog. Marks are file ids.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import os

from PySide6.QtCore import QObject, Signal

from lookalike.core import actions
from lookalike.core.bundle import BundleError
from lookalike.core.library import Library, LibraryError
from lookalike.core.results import Results

from . import marking
from .workers import JobRunner

log = logging.getLogger(__name__)

RULE_LABELS = {"highest_resolution": "keep highest resolution", "largest": "keep largest file",
               "oldest": "keep oldest", "newest": "keep newest",
               "protected": "keep the protected one"}


def _import_opencv_once():
    """Import OpenCV in one thread before the scan's decode threads need it: two threads doing
    the first `import cv2` at once can see the module without `cv2.data` (face crops then fail
    with AttributeError). TODO(engine): core/faces.py should import under a lock."""
    try:
        import cv2  # noqa: F401
        import cv2.data  # noqa: F401
    except ImportError:
        pass


def load_state(lib, bundle):
    """(grouper, file table) of a library, or None when it was never scanned with this model."""
    try:
        grouper = lib.grouper(bundle)
    except LibraryError:
        return None
    return grouper, lib.file_table()


class Controller(QObject):
    message = Signal(str, bool)        # text for the user, is it an error
    bundle_changed = Signal()          # self.bundle was (re)loaded (None when unusable)
    loaded = Signal(object)            # (grouper, file table) or None: a fresh state to show
    folders_changed = Signal()         # a folder was added, removed or (un)protected
    marks_changed = Signal()
    scan_started = Signal()
    scan_progress = Signal(object)     # core.progress.Progress
    scan_finished = Signal(object)     # ScanStats
    scan_failed = Signal(str)
    scan_cancelled = Signal()
    scan_ended = Signal()              # after any of the three above
    action_finished = Signal(object)   # core.actions.Outcome

    def __init__(self, settings, library_dir=None, model_dir=None, trash_func=None, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.library_override = library_dir
        self.model_override = model_dir
        self.trash_func = trash_func                # None: the system trash (send2trash)
        self.jobs = JobRunner(self, threads=2)
        self.lib: Library | None = None
        self.bundle = None
        self.state = None                           # (grouper, file table) of the library and bundle
        self.results = Results.empty()              # the groups shown (set by the view, or by regroup)
        self.marks: set[int] = set()                # file ids
        self._load_gen = itertools.count()
        self._current_load = -1
        self._scan_job = None
        self._pending_roots: set[str] = set()       # folders added, their write still queued

    def say(self, text: str, error: bool = False):
        self.message.emit(text, error)

    # -- library and model ------------------------------------------------------------
    @property
    def library_dir(self):
        if self.lib is not None:
            return self.lib.dir
        from pathlib import Path

        from lookalike.core.library import default_library_dir
        d = self.library_override or self.settings.library_dir
        return Path(d).expanduser() if d else default_library_dir()

    def open_library(self) -> bool:
        """(Re)open the library and model named by the settings, then load the groups."""
        if self.lib is not None:
            self.lib.close()
            self.lib = None
        try:
            self.lib = Library(self.library_override or self.settings.library_dir)
        except LibraryError as exc:
            self.say(str(exc), error=True)
            return False
        self.load_bundle()
        self.folders_changed.emit()
        self.reload()
        return True

    def load_bundle(self):
        try:
            b = self.lib.bundle(self.model_override or self.settings.model_dir)
        except BundleError as exc:
            self.bundle = None
            self.say(f"{exc}. Choose another model in Settings.", error=True)
        else:
            if self.settings.face_mode and b.preprocess != "face":
                b = dataclasses.replace(b, preprocess="face")
            self.bundle = b
        self.bundle_changed.emit()

    def folders(self):
        """(roots, protected, offline roots) of the library."""
        if self.lib is None:
            return [], [], []
        return self.lib.catalog.roots(), self.lib.catalog.protected(), self.lib.offline_roots()

    def reload(self):
        """Rebuild the grouper and the file table in the background; `loaded` brings them."""
        if self.lib is None or self.bundle is None:
            return
        gen = next(self._load_gen)
        self._current_load = gen
        lib_dir, bundle = str(self.lib.dir), self.bundle

        def work(_p, _c):
            with Library(lib_dir) as lib:
                return load_state(lib, bundle)

        self.jobs.start(work, name="load", done=lambda res: self._loaded(gen, res),
                        failed=lambda msg: self.say(msg, error=True))

    def _loaded(self, gen, state):
        if gen == self._current_load:
            self._set_state(state)

    def _set_state(self, state):
        self.state = state
        self.loaded.emit(state)

    def describe(self):
        """Describes rows of the results (their groups come keeper first)."""
        lib = self.lib
        return lambda groups: lib.describe_groups(groups, presorted=True)

    def regroup(self, threshold: float, exact: bool = False) -> Results:
        """The results at a threshold from the loaded state (what the slider does, headless)."""
        from .groups import compute_groups
        grouper, table = self.state if self.state is not None else (None, None)
        self.results = compute_groups(grouper, table, threshold, exact)
        return self.results

    # -- writes -------------------------------------------------------------------------
    def write(self, fn, name, done=None, failed=None):
        """Run `fn(writable library)` on the single writer thread (core's one-writer rule)."""
        lib_dir = str(self.lib.dir)

        def work(_p, _c):
            with Library(lib_dir, write=True) as w:
                return fn(w)

        def on_failed(msg):
            self._pending_roots.clear()
            self.say(msg, error=True)
            if failed is not None:
                failed(msg)

        return self.jobs.start(work, name=name, done=done, failed=on_failed, writes=True)

    def add_folders(self, dirs):
        dirs = [os.path.abspath(d) for d in dirs if os.path.isdir(d)]
        if not dirs or self.lib is None:
            return
        self._pending_roots.update(dirs)

        def done(_):
            self._pending_roots.difference_update(dirs)
            self.folders_changed.emit()
            self.say(f"Added {', '.join(os.path.basename(d) or d for d in dirs)}. Press Scan to read the photos.")

        self.write(lambda w: w.add_roots(dirs), "add-folder", done)

    def remove_folder(self, path):
        if self.lib is None:
            return
        if path not in self.lib.catalog.roots():
            self.set_protected(path, False)
            return

        def done(n):
            self.folders_changed.emit()
            self.say(f"Removed {path} from the library ({n} photos forgotten; the files are untouched).")
            self.reload()

        self.write(lambda w: w.remove_root(path), "remove-folder", done)

    def set_protected(self, path, on):
        if self.lib is None:
            return

        def done(_):
            self.folders_changed.emit()
            self.say(f"{path} is {'protected: nothing in it will be trashed or moved' if on else 'no longer protected'}.")

        self.write(lambda w: w.set_protected(path, on), "protect", done)

    # -- scanning -----------------------------------------------------------------------
    def is_scanning(self) -> bool:
        return self._scan_job is not None

    def start_scan(self) -> bool:
        if self._scan_job is not None or self.lib is None:
            return False
        if self.bundle is None:
            self.say("No usable model: choose one in Settings.", error=True)
            return False
        if not self.lib.catalog.roots() and not self._pending_roots:
            self.say("Add a photo folder first (button or drag it here).", error=True)
            return False
        lib_dir, bundle = str(self.lib.dir), self.bundle

        def work(progress, cancel):
            if bundle.preprocess == "face":
                _import_opencv_once()
            with Library(lib_dir, write=True) as w:
                stats = w.scan(None, bundle, progress=progress, cancel=cancel)
                return stats, load_state(w, bundle)

        self._scan_job = self.jobs.start(work, name="scan", progress=self.scan_progress.emit, done=self._scan_done,
                                         failed=self._scan_failed, cancelled=self._scan_cancelled,
                                         finished=self._scan_ended, writes=True)
        self.scan_started.emit()
        return True

    def cancel_scan(self) -> bool:
        if self._scan_job is None:
            return False
        self._scan_job.cancel()
        return True

    def _scan_done(self, res):
        stats, state = res
        if state is not None:
            self._set_state(state)
        self.folders_changed.emit()
        self.scan_finished.emit(stats)

    def _scan_failed(self, msg):
        self.say(f"Scan failed: {msg}", error=True)
        self.scan_failed.emit(msg)

    def _scan_cancelled(self):
        self.say("Scan stopped. Everything read so far is kept: press Scan to resume.")
        self.reload()
        self.scan_cancelled.emit()

    def _scan_ended(self):
        self._scan_job = None
        self.scan_ended.emit()

    # -- marks and actions --------------------------------------------------------------
    def marked_paths(self) -> set[str]:
        if self.lib is None or not self.marks:
            return set()
        return {r.path for r in self.lib.catalog.files(self.marks)}

    def mark_by_rule(self, rule: str):
        """Mark, in every group shown, all copies but the one the rule keeps."""
        if self.lib is None or not len(self.results):
            return
        self.settings.rule = rule
        marked = marking.mark_all(self.lib, self.results, rule)
        self.marks.clear()
        self.marks.update(marked)
        self.marks_changed.emit()
        self.say(f"Marked {len(marked):,} photos ({RULE_LABELS.get(rule, rule)}).")

    def clear_marks(self):
        self.marks.clear()
        self.marks_changed.emit()
        self.say("No photos marked.")

    def plan(self) -> actions.Plan | None:
        """The engine's plan for the marks (None, with a message, when nothing is marked)."""
        if self.lib is None:
            return None
        if not self.marks:
            self.say("Nothing is marked: mark copies with Space or a rule first.")
            return None
        return marking.plan(self.lib, self.results, self.marks)

    def trash(self, plan):
        trash_func = self.trash_func
        self._run_action(lambda w: actions.trash(w, plan, trash_func=trash_func), "moved to the trash", plan)

    def move(self, plan, dest):
        self._run_action(lambda w: actions.move(w, plan, dest), f"moved to {dest}", plan)

    def _run_action(self, fn, verb, plan):
        bundle = self.bundle

        def work(w):
            out = fn(w)
            return out, load_state(w, bundle)

        def done(res):
            out, state = res
            for src, _dst in out.done:
                self.marks.discard(plan.ids.get(src))
            if state is not None:
                self._set_state(state)
            msg = f"{len(out.done):,} photos {verb}."
            if out.failed:
                msg += f" {len(out.failed)} failed: " + "; ".join(f"{os.path.basename(p)}: {r}" for p, r in out.failed[:5])
            self.say(msg, error=bool(out.failed))
            self.marks_changed.emit()
            self.action_finished.emit(out)

        self.write(work, "action", done)

    def undo_move(self):
        if self.lib is None:
            return

        def done(out):
            self.say(f"{len(out.done)} photos moved back; scanning to show them again.")
            self.action_finished.emit(out)
            self.start_scan()

        self.write(actions.undo_last, "undo", done)

    def not_duplicate(self, members):
        """These photos are not copies of each other: stored by content, never grouped again."""
        if self.lib is None:
            return
        if len(members) < 2:
            self.say("Select a group (or two photos in it) first.")
            return
        paths = [m.path for m in members]
        self.marks.difference_update(m.id for m in members)
        self.marks_changed.emit()

        def done(_n):
            self.say(f"{len(paths)} photos will not be grouped together again.")
            self.reload()

        self.write(lambda w: w.not_duplicate(paths), "not-duplicate", done)

    def export(self, path):
        if self.lib is None or not len(self.results):
            self.say("No groups to export.")
            return
        described = marking.described(self.lib, self.results, range(len(self.results)))
        actions.export_groups(described, path, fmt="json" if path.endswith(".json") else "csv")
        self.say(f"{len(described):,} groups written to {path}.")

    def problems(self):
        return self.lib.problems() if self.lib is not None else []

    def shutdown(self):
        self.jobs.shutdown()
        if self.lib is not None:
            self.lib.close()
            self.lib = None
