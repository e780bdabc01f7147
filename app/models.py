"""Qt item models over the engine's groups.

`GroupsModel` wraps the flat arrays of `lookalike.core.grouping.Groups` without creating a
Python object per group: sorting works on numpy keys (best score, member count, reclaimable
bytes) and the members of a row are described (`Library.describe_groups`) only when the row
is drawn, in chunks, and cached until the next regroup.
"""
from __future__ import annotations

import logging
import os
import sqlite3

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from lookalike.core.grouping import Group
from lookalike.core.results import Results

log = logging.getLogger(__name__)

MembersRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
DESCRIBE_CHUNK = 48


def human_size(n: int | float) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


COLUMNS = ("Photos", "#", "Best", "Frees")
COLUMN_TIPS = ("The photos of the group, the suggested keeper first; red frames are marked",
               "Number of photos in the group", "Highest match score inside the group (0-100)",
               "Space freed by keeping only the suggested keeper (protected folder, else highest "
               "resolution, else largest, else oldest)")


class GroupsModel(QAbstractTableModel):
    """Rows are groups. `describe(list[Group]) -> list[list[Member]]` is the library's."""
    regrouped = Signal()

    def __init__(self, describe=None, parent=None):
        super().__init__(parent)
        self._describe = describe
        self.arrays = Results.empty()               # the engine's results (core.results)
        self.order = np.zeros(0, np.int64)          # row -> group index in `arrays`
        self._members: dict[int, list] = {}
        self._sort = (2, Qt.SortOrder.DescendingOrder)
        self.marked: set[int] = set()        # file ids

    def set_describe(self, describe):
        self._describe = describe

    @property
    def reclaim(self):
        return self.arrays.reclaim

    def set_groups(self, results: Results):
        self.beginResetModel()
        self.arrays = results
        self._members.clear()
        self.order = self._sorted_order(*self._sort)
        self.endResetModel()
        self.regrouped.emit()

    # -- sorting ----------------------------------------------------------------------
    def _sorted_order(self, column, order):
        n = len(self.arrays)
        if n == 0:
            return np.zeros(0, np.int64)
        base = np.arange(n)
        if column == 1:
            key = self.arrays.sizes()
        elif column == 3:
            key = self.reclaim
        elif column == 2:
            key = self.arrays.best
        else:
            return base          # the engine's order: best score, then size
        o = np.lexsort((base, key))
        return o[::-1].copy() if order == Qt.SortOrder.DescendingOrder else o

    def sort(self, column, order=Qt.SortOrder.AscendingOrder):
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self.order = self._sorted_order(column, order)
        self._members.clear()
        self.layoutChanged.emit()

    # -- rows -------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(COLUMNS)

    def group(self, row: int) -> Group:
        return self.arrays.group(int(self.order[row]))

    def members(self, row: int):
        """The described members of a row (lazily, in chunks around it)."""
        got = self._members.get(row)
        if got is not None or self._describe is None:
            return got or []
        lo = (row // DESCRIBE_CHUNK) * DESCRIBE_CHUNK
        hi = min(lo + DESCRIBE_CHUNK, len(self.order))
        rows = [r for r in range(lo, hi) if r not in self._members]
        try:
            described = self._describe([self.group(r) for r in rows])
        except (KeyError, sqlite3.Error) as exc:      # files forgotten since the grouper was built
            log.warning("cannot describe groups (%s); rescan to refresh", exc)
            described = [[] for _ in rows]
        self._members.update(zip(rows, described))
        return self._members[row]

    def row_of_path(self, path: str) -> int | None:
        for r, ms in self._members.items():
            if any(m.path == path for m in ms):
                return r
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        g = int(self.order[row])
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 1:
                return str(int(self.arrays.offsets[g + 1] - self.arrays.offsets[g]))
            if col == 2:
                return f"{float(self.arrays.best[g]):.1f}"
            if col == 3:
                return human_size(int(self.reclaim[g]))
            if col == 0:
                ms = self.members(row)
                n_marked = sum(1 for m in ms if m.id in self.marked)
                return f"{n_marked} marked" if n_marked else ""
        elif role == MembersRole and col == 0:
            return self.members(row)
        elif role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return "\n".join(m.path for m in self.members(row))
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def refresh_marks(self):
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, 0))


MEMBER_COLUMNS = ("", "Photo", "Score", "Resolution", "Size", "Taken", "Name", "Folder")


class MembersModel(QAbstractTableModel):
    """The members of one group; column 0 is the mark (checkbox)."""
    marks_changed = Signal()

    def __init__(self, marked: set[int], parent=None):
        super().__init__(parent)
        self.marked = marked
        self.items: list = []

    def set_members(self, members):
        self.beginResetModel()
        self.items = list(members)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(MEMBER_COLUMNS)

    def flags(self, index):
        f = super().flags(index)
        if index.column() == 0:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        m = self.items[index.row()]
        col = index.column()
        if role == PathRole:
            return m.path
        if role == Qt.ItemDataRole.CheckStateRole and col == 0:
            return Qt.CheckState.Checked if m.id in self.marked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 2:
                if getattr(m, "raw_jpeg_pair", False):
                    return "keep (RAW + JPEG)" if m.keep else "RAW + JPEG pair"
                if m.keep:
                    return "keep"
                return "identical" if m.identical else f"{m.score:.1f}"
            if col == 3:
                return f"{m.width} × {m.height}" if m.width else "?"
            if col == 4:
                return human_size(m.bytes)
            if col == 5:
                return (m.taken_at or "").replace("T", " ")
            if col == 6:
                return os.path.basename(m.path)
            if col == 7:
                return os.path.dirname(m.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 2 and getattr(m, "raw_jpeg_pair", False):
                return (f"The camera's RAW file and its JPEG of the same shot (score {m.score:.1f}); "
                        "no rule marks either of them")
            return m.path
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (2, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == 0:
            self.set_marked(index.row(), Qt.CheckState(value) == Qt.CheckState.Checked)
            return True
        return False

    def set_marked(self, row: int, on: bool):
        fid = self.items[row].id
        if on:
            self.marked.add(fid)
        else:
            self.marked.discard(fid)
        self.dataChanged.emit(self.index(row, 0), self.index(row, 0))
        self.marks_changed.emit()

    def toggle(self, row: int):
        self.set_marked(row, self.items[row].id not in self.marked)

    def refresh(self):
        if self.items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.items) - 1, 0))

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return MEMBER_COLUMNS[section]
        return None
