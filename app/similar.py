"""Similar: drop or choose a photo (in the library or not) and see its nearest photos."""
from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from .compare import IMAGE_FILTER, pictures_folder

PathRole = Qt.ItemDataRole.UserRole + 10


class SimilarView(QWidget):
    """`search(path)` runs `Library.similar` in the background; `results_ready(list)` gives
    [(path, score)]. Double-clicking a result asks to compare it with the query."""
    results_ready = Signal(list)
    compare_requested = Signal(object, object)     # paths as Python str (bytes of non-UTF-8 names kept)

    def __init__(self, jobs, thumbs, library_fn, bundle_fn, parent=None):
        super().__init__(parent)
        self.jobs, self.thumbs, self.library_fn, self.bundle_fn = jobs, thumbs, library_fn, bundle_fn
        self.query: str | None = None
        self.results: list[tuple[str, float]] = []
        self._gen = 0
        self.setAcceptDrops(True)
        self.label = QLabel("Drop a photo here or choose one to see the photos most like it.", self)
        self.label.setWordWrap(True)
        choose = QPushButton("Choose photo…", self)
        choose.clicked.connect(self.choose)
        self.k = QSpinBox(self)
        self.k.setRange(1, 200)
        self.k.setValue(24)
        self.k.setPrefix("show ")
        self.list = QListWidget(self)
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(128, 128))
        self.list.setGridSize(QSize(160, 176))
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setMovement(QListWidget.Movement.Static)
        self.list.setWordWrap(True)
        self.list.itemDoubleClicked.connect(self._activated)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.k)
        top.addWidget(choose)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.list, 1)
        thumbs.ready.connect(self._thumb_ready)

    def choose(self):
        path, _ = QFileDialog.getOpenFileName(self, "Find photos like…", pictures_folder(), IMAGE_FILTER)
        if path:
            self.search(path)

    def dragEnterEvent(self, ev):
        if any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        paths = [p for p in paths if os.path.isfile(p)]
        if paths:
            self.search(paths[0])
        ev.acceptProposedAction()

    def search(self, path):
        self._gen += 1
        gen = self._gen
        self.query = os.path.abspath(path)
        self.label.setText(f"Searching for photos like {os.path.basename(path)}…")
        self.list.clear()
        lib_dir, bundle, k = self.library_fn(), self.bundle_fn(), self.k.value()

        def work(_p, _c):
            from lookalike.core.library import Library
            with Library(lib_dir) as lib:
                return lib.similar(self.query, bundle, k=k)

        def done(hits):
            if gen != self._gen:
                return
            self.results = hits
            self.label.setText(f"{len(hits)} photos most like {os.path.basename(self.query)}"
                               if hits else "The library has no photos yet: scan a folder first.")
            for n, (p, s) in enumerate(hits):
                s = max(0.0, s)          # cosine can be negative; the score scale starts at 0
                item = QListWidgetItem(f"{s:.1f}  {os.path.basename(p)}")
                item.setData(PathRole, n)          # the row of `results`: a QString would lose bytes
                item.setToolTip(f"{p}\nscore {s:.1f} — double-click to compare")
                pm = self.thumbs.get(p)
                if pm is not None:
                    item.setIcon(QIcon(pm))
                self.list.addItem(item)
            self.results_ready.emit(hits)

        def failed(msg):
            if gen == self._gen:
                self.label.setText(f"Cannot search: {msg}")

        self.jobs.start(work, name="similar", done=done, failed=failed)

    def _thumb_ready(self, path):
        pm = self.thumbs.get(path)
        if pm is None:
            return
        for i in range(self.list.count()):
            item = self.list.item(i)
            if self.results[item.data(PathRole)][0] == path:
                item.setIcon(QIcon(pm))

    def _activated(self, item):
        if self.query:
            self.compare_requested.emit(self.query, self.results[item.data(PathRole)][0])
