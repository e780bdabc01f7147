"""Compare two photos side by side: synchronized zoom and pan, score, verdict, metadata, and
where they differ.

Zoom is relative to "fit in the pane", and pan is a position relative to the picture, so a
4000-pixel original and its 1000-pixel copy show the same detail at the same time. Any two
image files can be dropped here, inside the library or not.

Where they differ (`lookalike.core.align`): the right photo is aligned onto the left one; the
outline shows where a crop lies on the other photo, the difference overlay is a heat map on the
left photo (a caption, a retouch, heavy recompression), and blink alternates the left photo with
the aligned right one.
"""
from __future__ import annotations

import datetime
import os

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (QFileDialog, QGraphicsPixmapItem, QGraphicsPolygonItem, QGraphicsScene,
                               QGraphicsView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .models import human_size

DISPLAY_TARGET = 2048      # decode at least this many pixels on the short side (JPEG draft)
IMAGE_FILTER = ("Images (*.jpg *.jpeg *.png *.webp *.heic *.heif *.avif *.tif *.tiff *.bmp *.gif "
                "*.cr2 *.cr3 *.nef *.arw *.dng *.raf *.orf *.rw2 *.CR2 *.CR3 *.NEF *.ARW *.DNG *.RAF *.ORF *.RW2);;"
                "All files (*)")
BLINK_MS = 600


def pictures_folder() -> str:
    """Where a "choose a photo" dialog opens: the user's Pictures folder, else home."""
    from PySide6.QtCore import QStandardPaths
    for loc in (QStandardPaths.StandardLocation.PicturesLocation, QStandardPaths.StandardLocation.HomeLocation):
        d = QStandardPaths.writableLocation(loc)
        if d and os.path.isdir(d):
            return d
    return os.path.expanduser("~")
FOOTPRINT_SHOWN_BELOW = 0.97   # outline a side when the other photo covers less than this of it


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


def compute_differences(path_a, path_b):
    """(Alignment, Difference) of two photo files, (None, None) when they do not align; any thread."""
    from lookalike.core import align, decode
    a = decode.load(path_a, target=align.WORK_SIDE).image
    b = decode.load(path_b, target=align.WORK_SIDE).image
    return align.compare_pictures(a, b)


def heat_image(heat: np.ndarray) -> QImage:
    """A translucent red-to-yellow QImage of a heat map (0-1). The power below 1 keeps faint
    differences (recompression) faintly visible while a caption stays the hottest thing."""
    h = np.clip(heat, 0.0, 1.0) ** 0.75
    rgba = np.zeros(heat.shape + (4,), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (np.clip(h * 2.0 - 1.0, 0.0, 1.0) * 230).astype(np.uint8)   # hottest: yellow
    rgba[..., 3] = (np.clip(h * 1.4, 0.0, 1.0) * 220).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    return QImage(rgba.data, heat.shape[1], heat.shape[0], 4 * heat.shape[1],
                  QImage.Format.Format_RGBA8888).copy()


def rgb_image(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888).copy()


def polygon_area(pts) -> float:
    x, y = np.asarray(pts, np.float64).T
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


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
        # layers over the photo, in its pixel frame: the other photo aligned (blink), the
        # difference heat map, the other photo's outline
        self.blink_item = QGraphicsPixmapItem(self.item)
        self.blink_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.heat_item = QGraphicsPixmapItem(self.item)
        self.heat_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.outline_item = QGraphicsPolygonItem(self.item)
        pen = QPen(QColor(255, 200, 0), 3)
        pen.setCosmetic(True)                 # 3 screen pixels at any zoom
        self.outline_item.setPen(pen)
        for it in (self.blink_item, self.heat_item, self.outline_item):
            it.setVisible(False)
        self.zoom = 1.0
        self._syncing = False
        self.horizontalScrollBar().valueChanged.connect(self._scrolled)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    def set_image(self, img: QImage | None):
        pm = QPixmap.fromImage(img) if img is not None else QPixmap()
        self.item.setPixmap(pm)
        self.set_layers(None, None, None)
        self.scene().setSceneRect(self.item.boundingRect())
        self.apply_view(self.zoom, 0.5, 0.5)

    def has_image(self):
        return not self.item.pixmap().isNull()

    def set_layers(self, heat: QImage | None, blink: QImage | None, outline):
        """Overlays in fractions of the photo: a heat map, the other photo aligned onto this one,
        the other photo's outline ([4, 2] fractions); None clears one."""
        pm = self.item.pixmap()
        w, h = max(pm.width(), 1), max(pm.height(), 1)
        for it, img in ((self.heat_item, heat), (self.blink_item, blink)):
            it.setPixmap(QPixmap.fromImage(img) if img is not None else QPixmap())
            if img is not None:
                it.setTransform(QTransform.fromScale(w / img.width(), h / img.height()))
            else:
                it.setVisible(False)
        if outline is None:
            self.outline_item.setPolygon(QPolygonF())
            self.outline_item.setVisible(False)
        else:
            self.outline_item.setPolygon(QPolygonF([QPointF(x * w, y * h) for x, y in outline]))

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
    differences_ready = Signal()
    failed = Signal(str)

    def __init__(self, jobs, bundle_fn, threshold_fn, parent=None, library_fn=None):
        super().__init__(parent)
        self.jobs, self.bundle_fn, self.threshold_fn = jobs, bundle_fn, threshold_fn
        self.library_fn = library_fn        # the library whose stored checks give the pair its score
        self.paths: list[str | None] = [None, None]
        self.meta: list[dict | None] = [None, None]
        self.score: float | None = None
        self.identical = False
        self.verdict: str | None = None
        self.alignment = None
        self.difference = None
        self._gen = 0
        self.setAcceptDrops(True)
        self._blink = QTimer(self)
        self._blink.setInterval(BLINK_MS)
        self._blink.timeout.connect(self._blink_step)

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
        self.result_label.setWordWrap(True)              # a narrow window wraps it, not widens
        self.result_label.setMinimumWidth(200)
        for cap in self.captions:                         # long names: elided by width, full in the tooltip
            cap.setMinimumWidth(40)
            cap.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        fit = QPushButton("Fit", self)
        fit.clicked.connect(lambda: self._set_zoom(1.0))
        actual = QPushButton("Zoom in", self)
        actual.clicked.connect(lambda: self.panes[0].zoom_by(2.0))
        bar = QHBoxLayout()
        bar.addWidget(self.result_label, 1)
        bar.addWidget(fit)
        bar.addWidget(actual)
        # where the two differ
        self.outline_button = self._toggle("Outline", "Outline where one photo lies on the other "
                                                      "(a crop's place on the original)", checked=True)
        self.heat_button = self._toggle("Differences", "Heat map on the left photo of what the right one "
                                                        "changes: a caption, a retouch, recompression")
        self.blink_button = self._toggle("Blink", "Alternate the left photo with the right one laid "
                                                  "on top of it, aligned")
        self.diff_label = QLabel("", self)
        self.diff_label.setWordWrap(True)
        diff_bar = QHBoxLayout()
        diff_bar.addWidget(self.diff_label, 1)
        for b in (self.outline_button, self.heat_button, self.blink_button):
            diff_bar.addWidget(b)
        self.table = QTableWidget(len(META_ROWS), 2, self)
        self.table.setVerticalHeaderLabels(list(META_ROWS))
        self.table.setHorizontalHeaderLabels(["Left", "Right"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(diff_bar)
        lay.addWidget(split, 1)
        lay.addWidget(self.table)

    def _toggle(self, text, tip, checked=False):
        b = QPushButton(text, self)
        b.setCheckable(True)
        b.setChecked(checked)
        b.setEnabled(False)
        b.setToolTip(tip)
        b.toggled.connect(self._show_layers)
        return b

    # -- inputs -----------------------------------------------------------------------
    def _choose(self, side):
        path, _ = QFileDialog.getOpenFileName(self, "Choose a photo", pictures_folder(), IMAGE_FILTER)
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
        self.alignment = self.difference = None
        self._blink.stop()
        for b in (self.outline_button, self.heat_button, self.blink_button):
            b.setEnabled(False)
        self.diff_label.setText("")
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
                    if all(self.paths):
                        self._start_differences(gen)

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
            lib_dir = self.library_fn() if self.library_fn else None

            def score(_p, _c):
                from lookalike.core.hashing import full_digest
                from lookalike.core.library import compare_in_library
                s = compare_in_library(lib_dir, a, b, bundle)
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

    def _start_differences(self, gen):
        a, b = self.paths
        self.diff_label.setText("Aligning the photos…")

        def ready(res):
            if gen != self._gen:
                return
            self.alignment, self.difference = res
            self._differences_shown()

        def failed(msg):
            if gen == self._gen:
                self.diff_label.setText(f"Cannot align: {msg}")
        self.jobs.start(lambda _p, _c: compute_differences(a, b), name="compare-align", done=ready, failed=failed)

    def _differences_shown(self):
        al, df = self.alignment, self.difference
        if al is None:
            self.diff_label.setText("These photos do not line up (too few matching details): "
                                    "no outline or difference map.")
            self.differences_ready.emit()
            return
        words = []
        if polygon_area(al.footprint_in_a) < FOOTPRINT_SHOWN_BELOW:
            words.append(f"the right photo covers {polygon_area(al.footprint_in_a):.0%} of the left one (outlined)")
        elif polygon_area(al.footprint_in_b) < FOOTPRINT_SHOWN_BELOW:
            words.append(f"the left photo covers {polygon_area(al.footprint_in_b):.0%} of the right one (outlined)")
        if al.mirrored:
            words.append("mirrored")
        words.append(f"{df.changed:.1%} of the common area differs" if df.changed >= 0.001
                     else "no visible change in the common area")
        self.diff_label.setText("Aligned: " + "; ".join(words) + ".")
        for b in (self.outline_button, self.heat_button, self.blink_button):
            b.setEnabled(True)
        self._show_layers()
        self.differences_ready.emit()

    def _show_layers(self, *_):
        al, df = self.alignment, self.difference
        left, right = self.panes
        if al is None:
            for p in self.panes:
                p.set_layers(None, None, None)
            return
        left.set_layers(heat_image(df.heat), rgb_image(df.b_on_a),
                        al.footprint_in_a if polygon_area(al.footprint_in_a) < FOOTPRINT_SHOWN_BELOW else None)
        right.set_layers(None, None,
                         al.footprint_in_b if polygon_area(al.footprint_in_b) < FOOTPRINT_SHOWN_BELOW else None)
        show_outline = self.outline_button.isChecked()
        for p in self.panes:
            p.outline_item.setVisible(show_outline and not p.outline_item.polygon().isEmpty())
        left.heat_item.setVisible(self.heat_button.isChecked())
        if self.blink_button.isChecked():
            self._blink.start()
        else:
            self._blink.stop()
            left.blink_item.setVisible(False)

    def _blink_step(self):
        item = self.panes[0].blink_item
        item.setVisible(not item.isVisible())

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
