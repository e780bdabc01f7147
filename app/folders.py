"""The library's folders: add (dialog or drag-in), remove, protect."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from .theme import compact

PathRole = Qt.ItemDataRole.UserRole + 20
RootRole = Qt.ItemDataRole.UserRole + 21


class FolderPanel(QWidget):
    """Shows roots and protected folders; a checked item is protected (never touched)."""
    add_requested = Signal()
    remove_requested = Signal(str)
    protect_changed = Signal(str, bool)
    protect_requested = Signal()
    folders_dropped = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        title = QLabel("<b>Folders</b>", self)
        hint = QLabel("Tick a folder to protect it: nothing in it is ever trashed or moved. "
                      "Drag folders here to add them.", self)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(placeholder-text);")
        self.list = QListWidget(self)
        self.list.itemChanged.connect(self._changed)
        add = QPushButton("Add…", self)
        add.setToolTip("Add a photo folder to the library")
        add.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.setToolTip("Remove the selected folder from the library (its photos are not touched)")
        self.remove_button.clicked.connect(self._remove)
        protect = QPushButton("Protect…", self)
        protect.setToolTip("Protect any folder, e.g. an archive inside a scanned folder")
        protect.clicked.connect(self.protect_requested)
        row = QHBoxLayout()
        for b in (add, self.remove_button, protect):
            row.addWidget(compact(b))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(title)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        lay.addWidget(hint)
        self._filling = False

    def set_folders(self, roots, protected, offline=()):
        """`offline`: roots that cannot be read now (their photos are kept, shown greyed)."""
        self._filling = True
        self.list.clear()
        prot, away = set(protected), set(offline)
        for p in sorted(set(roots) | prot):
            name = os.path.basename(p.rstrip(os.sep)) or p
            item = QListWidgetItem(f"{name} (offline)" if p in away else name)
            tip = p + ("" if p in roots else "\n(protected folder, not scanned by itself)")
            if p in away:
                tip += "\n(offline: cannot be read now; its photos are kept and are not read again when it is back)"
                item.setForeground(self.palette().placeholderText())
            item.setToolTip(tip)
            item.setData(PathRole, p)
            item.setData(RootRole, p in roots)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if p in prot else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self._filling = False

    def _changed(self, item):
        if not self._filling:
            self.protect_changed.emit(item.data(PathRole), item.checkState() == Qt.CheckState.Checked)

    def _remove(self):
        item = self.list.currentItem()
        if item is not None:
            self.remove_requested.emit(item.data(PathRole))

    def dragEnterEvent(self, ev):
        if any(u.isLocalFile() and os.path.isdir(u.toLocalFile()) for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        dirs = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile() and os.path.isdir(u.toLocalFile())]
        if dirs:
            self.folders_dropped.emit(dirs)
        ev.acceptProposedAction()
