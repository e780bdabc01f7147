"""Compare two photos side by side: synchronized zoom and pan, score, verdict, metadata.

Zoom is relative to "fit in the pane", and pan is a position relative to the picture, so a
4000-pixel original and its 1000-pixel copy show the same detail at the same time. Any two
image files can be dropped here, inside the library or not.
"""
from __future__ import annotations

import datetime
import os

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QFileDialog, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from .models import human_size

DISPLAY_TARGET = 2048      # decode at least this many pixels on the short side (JPEG draft)
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.webp *.heic *.heif *.tif *.tiff *.bmp *.gif);;All files (*)"


def load_for_display(path):
    """(QImage, metadata dict) of a photo; any thread."""
    from lookalike.core import decode
    d = decode.load(path, target=DISPLAY_TARGET)
    im = d.image.convert("RGB")
    img = QImage(im.tobytes("raw", "RGB"), im.width, im.height, 3 * im.width,
                 QImage.Format.Format_RGB888).copy()
    st = os.stat(path)
    meta = {"Name": os.path.basename(path), "Folder": os.path.dirname(os.path.abspath(path)),
            "Resolution": f"{d.width} × {d.height}", "File size": human_size(st.st_size),
            "Taken": (d.taken_at or "—").replace("T", " "),
            "Modified": datetime.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M"),
            "Format": os.path.splitext(path)[1].lstrip(".").upper() or "?"}
    return img, meta


META_ROWS = ("Name", "Folder", "Resolution", "File size", "Taken", "Modified", "Format")


class ImagePane(QGraphicsView):
    """One side. Emits `view_changed(zoom, cx, cy)` when the user zooms or pans."""
    view_changed = Signal(float, float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setAcceptDrops(False)          # drops go to the compare view
        self.setBackgroundBrush(QBrush(QColor(40, 40, 44)))
        self.zoom = 1.0
        self._syncing = False
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    def set_image(self, img: QImage | None):
        pm = QPixmap.fromImage(img) if img is not None else QPixmap()
        self.item.setPixmap(pm)
        self.scene().setSceneRect(self.item.boundingRect())
        self.apply_view(self.zoom, 0.5, 0.5)

    def has_image(self):
        return not self.item.pixmap().isNull()

    def fit_scale(self):
        pm = self.item.pixmap()
        if pm.isNull():
            return 1.0
        vw, vh = self.viewport().width(), self.viewport().height()
        return min(vw / pm.width(), vh / pm.height())

    def center_fraction(self):
        pm = self.item.pixmap()
        if pm.isNull():
            return 0.5, 0.5
        c = self.mapToScene(self.viewport().rect().center())
        return c.x() / pm.width(), c.y() / pm.height()

    def apply_view(self, zoom, cx, cy):
        self._syncing = True
        try:
            self.zoom = zoom
            s = self.fit_scale() * zoom
            self.resetTransform()
            self.scale(s, s)
            pm = self.item.pixmap()
            if not pm.isNull():
                self.centerOn(QPointF(cx * pm.width(), cy * pm.height()))
        finally:
            self._syncing = False

    def _scrolled(self, _v):
        if not self._syncing and self.has_image():
            self.view_changed.emit(self.zoom, *self.center_fraction())

    def wheelEvent(self, ev):
        if not self.has_image():
            return
        factor = 1.25 ** (ev.angleDelta().y() / 120.0)
        self.zoom_by(factor)

    def zoom_by(self, factor):
        z = max(0.1, min(self.zoom * factor, 64.0))
        cx, cy = self.center_fraction()
        self.apply_view(z, cx, cy)
        self.view_changed.emit(self.zoom, *self.center_fraction())

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        cx, cy = self.center_fraction()
        self.apply_view(self.zoom, cx, cy)


class CompareView(QWidget):
    """`set_files(a, b)` loads both, computes the score in the background and emits
    `result_ready(score, verdict)`; `loaded` when both pictures are shown."""
    result_ready = Signal(float, str)
    loaded = Signal()
    failed = Signal(str)

    def __init__(self, jobs, bundle_fn, threshold_fn, parent=None):
        super().__init__(parent)
        self.jobs, self.bundle_fn, self.threshold_fn = jobs, bundle_fn, threshold_fn
        self.paths: list[str | None] = [None, None]
        self.meta: list[dict | None] = [None, None]
        self.score: float | None = None
        self.identical = False
        self.verdict: str | None = None
        self._gen = 0
        self.setAcceptDrops(True)

        self.panes = [ImagePane(self), ImagePane(self)]
        self.captions = [QLabel("Drop a photo here", self), QLabel("Drop a photo here", self)]
        split = QSplitter(Qt.Orientation.Horizontal, self)
        for i, (pane, cap) in enumerate(zip(self.panes, self.captions)):
            box = QWidget(split)
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            top = QHBoxLayout()
            cap.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            top.addWidget(cap, 1)
            choose = QPushButton("Choose…", box)
            choose.clicked.connect(lambda _=False, side=i: self._choose(side))
            top.addWidget(choose)
            lay.addLayout(top)
            lay.addWidget(pane, 1)
            pane.view_changed.connect(lambda z, cx, cy, side=i: self._sync(side, z, cx, cy))
        self.result_label = QLabel("Drag two image files here, or open a group and press Compare.", self)
        self.result_label.setObjectName("compareResult")
        f = self.result_label.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setBold(True)
        self.result_label.setFont(f)
        fit = QPushButton("Fit", self)
        fit.clicked.connect(lambda: self._set_zoom(1.0))
        actual = QPushButton("Zoom in", self)
        actual.clicked.connect(lambda: self.panes[0].zoom_by(2.0))
        bar = QHBoxLayout()
        bar.addWidget(self.result_label, 1)
        bar.addWidget(fit)
        bar.addWidget(actual)
        self.table = QTableWidget(len(META_ROWS), 2, self)
        self.table.setVerticalHeaderLabels(list(META_ROWS))
        self.table.setHorizontalHeaderLabels(["Left", "Right"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.table)

    # -- inputs -----------------------------------------------------------------------
    def _choose(self, side):
        path, _ = QFileDialog.getOpenFileName(self, "Choose a photo", "", IMAGE_FILTER)
        if path:
            self.set_file(side, path)

    def dragEnterEvent(self, ev):
        if any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        paths = [p for p in paths if os.path.isfile(p)]
        if len(paths) >= 2:
            self.set_files(paths[0], paths[1])
        elif paths:
            x = ev.position().x() if hasattr(ev, "position") else ev.pos().x()
            self.set_file(0 if x < self.width() / 2 else 1, paths[0])
        ev.acceptProposedAction()

    def set_files(self, a, b):
        self.paths = [os.path.abspath(a), os.path.abspath(b)]
        self._reload()

    def set_file(self, side, path):
        self.paths[side] = os.path.abspath(path)
        self._reload()

    # -- work -------------------------------------------------------------------------
    def _reload(self):
        self._gen += 1
        gen = self._gen
        self.score, self.verdict, self.identical = None, None, False
        pending = {"n": sum(1 for p in self.paths if p)}
        for side, path in enumerate(self.paths):
            if not path:
                continue
            self.captions[side].setText(os.path.basename(path))
            self.captions[side].setToolTip(path)

            def done(res, side=side):
                if gen != self._gen:
                    return
                img, meta = res
                self.panes[side].set_image(img)
                self.meta[side] = meta
                self._fill_table()
                pending["n"] -= 1
                if pending["n"] == 0:
                    self.loaded.emit()

            def failed(msg, side=side):
                if gen != self._gen:
                    return
                self.panes[side].set_image(None)
                self.meta[side] = None
                self.captions[side].setText(f"cannot read: {msg}")
                self.failed.emit(msg)

            self.jobs.start(lambda _p, _c, path=path: load_for_display(path), name="compare-load",
                            done=done, failed=failed)
        if all(self.paths):
            self.result_label.setText("Comparing…")
            a, b = self.paths
            bundle = self.bundle_fn()

            def score(_p, _c):
                from lookalike.core.hashing import full_digest
                from lookalike.core.library import compare_files
                s = compare_files(a, b, bundle)
                same = os.path.getsize(a) == os.path.getsize(b) and full_digest(a) == full_digest(b)
                return s, same

            def scored(res):
                if gen != self._gen:
                    return
                self.score, self.identical = res
                self.update_verdict()

            def score_failed(msg):
                if gen != self._gen:
                    return
                self.result_label.setText(f"Cannot compare: {msg}")
                self.failed.emit(msg)

            self.jobs.start(score, name="compare-score", done=scored, failed=score_failed)

    def update_verdict(self):
        """Re-judge the score at the current threshold (after the slider moved)."""
        if self.score is None:
            return
        from lookalike.core.library import verdict
        t = self.threshold_fn()
        self.verdict = verdict(self.score, self.bundle_fn(), t, identical=self.identical)
        colors = {"identical": "#3aa55d", "duplicate": "#3aa55d", "similar": "#d9a400", "different": "#d0523f"}
        self.result_label.setText(
            f"<span style='color:{colors.get(self.verdict, '#888')}'>{self.verdict.capitalize()}</span>"
            f" — score {self.score:.1f} (threshold {t:g})")
        self.result_ready.emit(self.score, self.verdict)

    def _fill_table(self):
        warn = QColor(230, 160, 40, 90)
        for r, key in enumerate(META_ROWS):
            vals = [m.get(key, "") if m else "" for m in self.meta]
            differ = all(self.meta) and vals[0] != vals[1]
            for c, v in enumerate(vals):
                item = QTableWidgetItem(v)
                item.setToolTip(v)
                if differ:
                    item.setBackground(warn)
                self.table.setItem(r, c, item)

    def differing_rows(self) -> list[str]:
        return [key for key in META_ROWS if all(self.meta) and self.meta[0].get(key) != self.meta[1].get(key)]

    # -- synchronized zoom and pan ---------------------------------------------------------
    def _sync(self, side, zoom, cx, cy):
        other = self.panes[1 - side]
        if other.has_image():
            other.apply_view(zoom, cx, cy)

    def _set_zoom(self, zoom):
        for p in self.panes:
            p.apply_view(zoom, 0.5, 0.5)
