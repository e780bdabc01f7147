"""The Groups page: threshold slider, groups list (thumbnail strips), members of the selected
group, marks, and the regroup that a slider move triggers.

A slider move regroups the stored edges (`Grouper.groups`), which takes milliseconds; when the
last regroup was slow (a giant weak component at a low threshold) the next ones run in a
worker so dragging never freezes the window, and only the newest position is computed.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QSplitter, QTableView, QVBoxLayout, QWidget)

from .delegates import GroupStripDelegate, MemberThumbDelegate
from lookalike.core.results import Results

from .models import COLUMNS, MEMBER_COLUMNS, GroupsModel, MembersModel, human_size
from .slider import ThresholdSlider
from .theme import compact
from .words import count

SLOW_REGROUP_MS = 40      # above this a slider move regroups in a worker instead of the GUI thread
STRIP_THUMB = 60
MEMBER_THUMB = 96
# Fusion's dark scheme draws no box around an unchecked item indicator; draw one ourselves
INDICATOR_CSS = ("QAbstractItemView::indicator { width: 13px; height: 13px; border: 1px solid #8a8a90; "
                 "border-radius: 3px; background: transparent; } "
                 "QAbstractItemView::indicator:checked { background: %s; border-color: #f0f0f0; }")


def compute_groups(grouper, table, threshold: float, exact: bool) -> Results:
    """The engine's results at a threshold (`core.results`): keepers and reclaimable bytes included."""
    if grouper is None or table is None:
        return Results.empty()
    res = Results(grouper.groups(threshold), table, duplicate=grouper.duplicate)
    return res.exact_only() if exact else res


class _KeyFilter(QObject):
    """Space marks the current member; Right/Left move between the groups and the members."""

    def __init__(self, page):
        super().__init__(page)
        self.page = page

    def eventFilter(self, obj, ev):
        if ev.type() != QEvent.Type.KeyPress or ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        gv, mv = self.page.groups_view, self.page.members_view
        if ev.key() == Qt.Key.Key_Space:
            self.page.toggle_current_mark()
            return True
        if ev.key() == Qt.Key.Key_Right and obj is gv and mv.model().rowCount():
            mv.setFocus()
            if not mv.currentIndex().isValid():
                mv.setCurrentIndex(mv.model().index(0, 2))
            return True
        if ev.key() == Qt.Key.Key_Left and obj is mv:
            gv.setFocus()
            return True
        return False


class GroupsPage(QWidget):
    groups_changed = Signal()             # the list was rebuilt (regroup, filter, new state)
    marks_changed = Signal()
    open_requested = Signal(object)       # a path (a Python str: names that are not UTF-8 keep their bytes)
    reveal_requested = Signal(object)
    compare_requested = Signal()
    not_duplicate_requested = Signal()
    failed = Signal(str)

    def __init__(self, jobs, thumbs, marks: set[int], parent=None):
        super().__init__(parent)
        self.jobs, self.thumbs, self.marks = jobs, thumbs, marks
        self.grouper = None
        self.facts = None
        self.describe = None              # Library.describe_groups of the GUI thread's library
        self._regroup_running = self._regroup_pending = False
        self._regroup_ms = 0.0            # how long the last regroup took
        self._regroup_timer = QTimer(self, singleShot=True, interval=0)
        self._regroup_timer.timeout.connect(self.regroup)

        self.slider = ThresholdSlider(self)
        self.slider.changed.connect(self._threshold_moved)
        self.exact_box = QCheckBox("Exact copies only", self)
        self.exact_box.setToolTip("Show only byte-identical copies")
        self.exact_box.toggled.connect(lambda _on: self.regroup())
        self.summary = QLabel("", self)

        self.groups_model = GroupsModel(parent=self)
        self.groups_model.marked = marks
        gv = self.groups_view = QTableView(self)
        gv.setModel(self.groups_model)
        gv.setItemDelegateForColumn(0, GroupStripDelegate(thumbs, marks, STRIP_THUMB, self))
        gv.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        gv.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        gv.verticalHeader().setDefaultSectionSize(STRIP_THUMB + 8)
        gv.verticalHeader().hide()
        gh = gv.horizontalHeader()
        # the strip takes what the numbers leave: as many thumbnails as fit (one and "+n" at least)
        gh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        fm = gv.fontMetrics()            # fixed widths: ResizeToContents would ask every row
        for c, sample in ((1, "999"), (2, "100.0"), (3, "999.9 MB")):
            gh.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)
            gh.resizeSection(c, max(fm.horizontalAdvance(sample), fm.horizontalAdvance(COLUMNS[c])) + 28)
        gh.setStretchLastSection(False)
        gv.setMinimumWidth(STRIP_THUMB + 4 + 48 + sum(gh.sectionSize(c) for c in (1, 2, 3))
                           + gv.verticalScrollBar().sizeHint().width() + 4)
        gv.setSortingEnabled(True)
        gh.setSortIndicator(2, Qt.SortOrder.DescendingOrder)
        gv.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        gv.setAlternatingRowColors(True)
        gv.selectionModel().currentRowChanged.connect(lambda cur, _prev: self.show_group(cur.row()))
        gv.doubleClicked.connect(lambda _i: self.compare_requested.emit())

        self.members_model = MembersModel(marks, self)
        self.members_model.marks_changed.connect(self._marks_changed)
        mv = self.members_view = QTableView(self)
        mv.setModel(self.members_model)
        mv.setItemDelegateForColumn(1, MemberThumbDelegate(thumbs, marks, MEMBER_THUMB, self))
        mv.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        mv.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        mv.verticalHeader().setDefaultSectionSize(MEMBER_THUMB + 8)
        mv.verticalHeader().hide()
        mh = mv.horizontalHeader()
        mh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        mh.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        mh.resizeSection(1, MEMBER_THUMB + 12)
        mh.setStretchLastSection(True)
        # the name right after the picture, so a narrow window still shows it whole; the long
        # folder path comes last and is elided in its middle
        mh.moveSection(mh.visualIndex(MEMBER_COLUMNS.index("Name")), 2)
        mh.setSectionResizeMode(MEMBER_COLUMNS.index("Folder"), QHeaderView.ResizeMode.Stretch)
        mv.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        mv.setWordWrap(False)
        mv.setStyleSheet(INDICATOR_CSS % "#d9534f")       # marked for removal: red
        mv.doubleClicked.connect(lambda idx: self.open_requested.emit(self.members_model.items[idx.row()].path))
        keys = _KeyFilter(self)
        mv.installEventFilter(keys)
        gv.installEventFilter(keys)

        buttons = QHBoxLayout()
        self.group_title = QLabel("", self)
        self.group_title.setMinimumWidth(0)
        self.group_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        buttons.addWidget(self.group_title, 1)
        for text, tip, slot in (
                ("Open", "Open in the system viewer", lambda: self._with_member(self.open_requested.emit)),
                ("Show in folder", "Show in the file manager", lambda: self._with_member(self.reveal_requested.emit)),
                ("Compare", "Compare two photos side by side (Enter)", self.compare_requested.emit),
                ("Not a duplicate", "Never group these photos together again", self.not_duplicate_requested.emit)):
            b = QPushButton(text, self)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(compact(b))
        members_box = QWidget(self)
        mlay = QVBoxLayout(members_box)
        mlay.setContentsMargins(0, 0, 0, 0)
        mlay.addLayout(buttons)
        mlay.addWidget(mv, 1)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(gv)
        split.addWidget(members_box)
        split.setSizes([470, 750])
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setChildrenCollapsible(False)
        self.splitter = split
        top = QHBoxLayout()
        top.addWidget(self.slider, 1)
        top.addWidget(self.exact_box)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)

    # -- state ------------------------------------------------------------------------
    def set_state(self, grouper, facts, describe):
        """A new grouper (after a load, scan or action): regroup at the current threshold."""
        self.grouper, self.facts, self.describe = grouper, facts, describe
        self.groups_model.set_describe(describe)
        self.regroup()

    def close(self):
        self._regroup_timer.stop()
        self.describe = None
        self.groups_model.set_describe(None)

    # -- regrouping -------------------------------------------------------------------
    def _threshold_moved(self, _t):
        if self.grouper is None:
            return
        if self._regroup_running:
            self._regroup_pending = True       # the newest position wins; moves in between are skipped
        elif self._regroup_ms > SLOW_REGROUP_MS:
            self._regroup_async()
        else:
            self._regroup_timer.start()        # coalesces the moves of one event-loop pass

    def _regroup_async(self):
        grouper, facts, t, exact = self.grouper, self.facts, self.slider.value(), self.exact_box.isChecked()
        self._regroup_running, self._regroup_pending = True, False

        def work(_p, _c):
            t0 = time.perf_counter()
            arrays = compute_groups(grouper, facts, t, exact)
            return arrays, (time.perf_counter() - t0) * 1000

        def done(res):
            arrays, self._regroup_ms = res
            self._regroup_running = False
            if grouper is self.grouper and self.describe is not None:
                self._apply(arrays, t)
            if self._regroup_pending:
                self._regroup_async()

        def failed(msg):
            self._regroup_running = False
            self.failed.emit(msg)

        self.jobs.start(work, name="regroup", done=done, failed=failed)

    def regroup(self):
        """Regroup the stored edges at the slider's threshold (no rescan, milliseconds)."""
        if self.describe is None and self.grouper is not None:
            return                              # closed
        t = self.slider.value()
        t0 = time.perf_counter()
        arrays = compute_groups(self.grouper, self.facts, t, self.exact_box.isChecked())
        self._regroup_ms = (time.perf_counter() - t0) * 1000
        self._apply(arrays, t)

    def _apply(self, arrays, t):
        keep = self.members_model.items[0].path if self.members_model.items else None
        self.groups_model.set_groups(arrays)
        n = len(arrays)
        if self.grouper is not None:
            self.summary.setText(f"{count(n, 'group')} · {count(int(arrays.offsets[-1]), 'photo')} · "
                                 f"{human_size(arrays.reclaimable)} reclaimable at score ≥ {t:g}"
                                 + (" · exact copies only" if self.exact_box.isChecked() else ""))
        row = 0
        if keep is not None:
            r = self.groups_model.row_of_path(keep)
            row = r if r is not None else 0
        if n:
            self.groups_view.selectRow(row)
            self.show_group(row)
        else:
            self.show_group(-1)
        self.groups_changed.emit()

    # -- selection and marks ------------------------------------------------------------
    def show_group(self, row):
        if row < 0 or row >= self.groups_model.rowCount():
            self.members_model.set_members([])
            self.group_title.setText("")
            return
        ms = self.groups_model.members(row)
        self.members_model.set_members(ms)
        self.group_title.setText(f"Group {row + 1}: {len(ms)} photos")
        # an empty "Taken" column only takes room from the names and folders
        self.members_view.setColumnHidden(MEMBER_COLUMNS.index("Taken"), not any(m.taken_at for m in ms))

    def current_group_row(self) -> int:
        idx = self.groups_view.currentIndex()
        return idx.row() if idx.isValid() else -1

    def selected_members(self):
        rows = sorted({i.row() for i in self.members_view.selectionModel().selectedRows()})
        return [self.members_model.items[r] for r in rows]

    def _with_member(self, fn):
        for m in (self.selected_members() or self.members_model.items)[:1]:
            fn(m.path)

    def toggle_current_mark(self):
        if not self.members_model.items:
            return
        idx = self.members_view.currentIndex()
        row = idx.row() if idx.isValid() else min(1, len(self.members_model.items) - 1)
        self.members_model.toggle(row)

    def _marks_changed(self):
        self.groups_view.viewport().update()
        self.marks_changed.emit()

    def refresh_marks(self):
        self.members_model.refresh()
        self.groups_model.refresh_marks()
        self.groups_view.viewport().update()

    def repaint_thumbs(self):
        self.groups_view.viewport().update()
        self.members_view.viewport().update()
