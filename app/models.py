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
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from lookalike.core.grouping import Group

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


@dataclass
class FileFacts:
    """Per-file numbers the groups list sorts and filters by, as arrays indexed by position
    of the file id in `ids` (sorted)."""
    ids: np.ndarray
    sizes: np.ndarray
    hash_codes: np.ndarray         # equal codes <=> identical bytes; -1 unknown

    @classmethod
    def from_library(cls, lib) -> "FileFacts":
        rows = lib.catalog.files()
        ids = np.fromiter((r.id for r in rows), np.int64, len(rows))
        sizes = np.fromiter((r.size for r in rows), np.int64, len(rows))
        codes: dict[str, int] = {}
        hc = np.fromiter((codes.setdefault(r.hash, len(codes)) if r.hash and r.hash.startswith("f:") else -1
                          for r in rows), np.int64, len(rows))
        o = np.argsort(ids)
        return cls(ids[o], sizes[o], hc[o])

    def _pos(self, ids):
        pos = np.searchsorted(self.ids, ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        return pos

    def size_of(self, ids):
        if len(self.ids) == 0:
            return np.zeros(len(ids), np.int64)
        pos = self._pos(ids)
        return np.where(self.ids[pos] == ids, self.sizes[pos], 0)

    def code_of(self, ids):
        if len(self.ids) == 0:
            return np.full(len(ids), -1, np.int64)
        pos = self._pos(ids)
        return np.where(self.ids[pos] == ids, self.hash_codes[pos], -1)


class GroupArrays:
    """ids/scores/offsets/best of a set of groups (the engine's `Groups`, or a filtered copy)."""

    def __init__(self, ids, scores, offsets, best):
        self.ids, self.scores, self.offsets, self.best = ids, scores, offsets, best

    @classmethod
    def of(cls, groups) -> "GroupArrays":
        return cls(groups.ids, groups.scores, groups.offsets, groups.best)

    def __len__(self):
        return len(self.best)

    def sizes(self):
        return np.diff(self.offsets)

    def group(self, i) -> Group:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return Group(list(zip(self.ids[lo:hi].tolist(), self.scores[lo:hi].tolist())), float(self.best[i]))

    def exact_only(self, facts: FileFacts) -> "GroupArrays":
        """Keep only the members byte-identical to their group's representative."""
        if len(self) == 0:
            return self
        sizes = self.sizes()
        codes = facts.code_of(self.ids)
        rep_code = np.repeat(codes[self.offsets[:-1]], sizes)
        keep = (codes == rep_code) & (codes >= 0)
        n_keep = np.add.reduceat(keep.astype(np.int64), self.offsets[:-1])
        good = n_keep >= 2
        keep &= np.repeat(good, sizes)
        new_sizes = n_keep[good]
        return GroupArrays(self.ids[keep], self.scores[keep], np.r_[0, np.cumsum(new_sizes)].astype(np.int64),
                           self.best[good])


COLUMNS = ("Photos", "#", "Best", "Frees")
COLUMN_TIPS = ("The photos of the group, best match first; red frames are marked",
               "Number of photos in the group", "Highest match score inside the group (0-100)",
               "Space freed by keeping only the best match")


class GroupsModel(QAbstractTableModel):
    """Rows are groups. `describe(list[Group]) -> list[list[Member]]` is the library's."""
    regrouped = Signal()

    def __init__(self, describe=None, parent=None):
        super().__init__(parent)
        self._describe = describe
        self.arrays = GroupArrays(np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(1, np.int64),
                                  np.zeros(0, np.float32))
        self.order = np.zeros(0, np.int64)          # row -> group index in `arrays`
        self.reclaim = np.zeros(0, np.int64)
        self._members: dict[int, list] = {}
        self._sort = (2, Qt.SortOrder.DescendingOrder)
        self.marked: set[str] = set()

    def set_describe(self, describe):
        self._describe = describe

    def set_groups(self, arrays: GroupArrays, facts: FileFacts | None):
        self.beginResetModel()
        self.arrays = arrays
        self._members.clear()
        if len(arrays) and facts is not None:
            fsz = facts.size_of(arrays.ids)
            total = np.add.reduceat(fsz, arrays.offsets[:-1])
            self.reclaim = total - fsz[arrays.offsets[:-1]]          # the representative stays
        else:
            self.reclaim = np.zeros(len(arrays), np.int64)
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
                n_marked = sum(1 for m in ms if m.path in self.marked)
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

    def __init__(self, marked: set[str], parent=None):
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
            return Qt.CheckState.Checked if m.path in self.marked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 2:
                if index.row() == 0:
                    return "best match"
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
        path = self.items[row].path
        if on:
            self.marked.add(path)
        else:
            self.marked.discard(path)
        self.dataChanged.emit(self.index(row, 0), self.index(row, 0))
        self.marks_changed.emit()

    def toggle(self, row: int):
        self.set_marked(row, self.items[row].path not in self.marked)

    def refresh(self):
        if self.items:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.items) - 1, 0))

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return MEMBER_COLUMNS[section]
        return None
