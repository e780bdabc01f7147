"""Thumbnails: decoded off the GUI thread into QImages, turned into QPixmaps on it.

Two caches: an in-memory LRU of pixmaps and a disk cache of small JPEGs keyed by the
file's path, size and modification time (so an edited photo gets a new thumbnail). The
newest request runs first, and when the queue grows long (fast scrolling through thousands
of groups) the requests nobody is looking at any more are dropped.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

log = logging.getLogger(__name__)

THUMB_PX = 192            # stored size (long side); drawn smaller, sharp on 2x screens
MEMORY_ITEMS = 1500
MAX_PENDING = 256


def cache_key(path: str, px: int = THUMB_PX) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    raw = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{px}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def make_thumbnail(path: str, cache_dir: Path | None, px: int = THUMB_PX) -> QImage:
    """A QImage thumbnail of a photo (any thread). Raises DecodeError/OSError when unreadable."""
    key = cache_key(path, px)
    if key is None:
        raise FileNotFoundError(path)
    cached = cache_dir / key[:2] / f"{key}.jpg" if cache_dir else None
    if cached is not None and cached.is_file():
        img = QImage(str(cached))
        if not img.isNull():
            return img
    from lookalike.core import decode
    from PIL import Image
    d = decode.load(path, target=px)
    im = d.image
    im.thumbnail((px, px), Image.BILINEAR, reducing_gap=2.0)
    im = im.convert("RGB")
    data = im.tobytes("raw", "RGB")
    img = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.{id(img)}.tmp.jpg")
            if img.save(str(tmp), "JPEG", 85):
                os.replace(tmp, cached)
        except OSError as exc:
            log.debug("thumbnail cache write failed: %s", exc)
    return img


class _Signals(QObject):
    # paths travel as Python objects: a QString would drop the bytes of a name that is not UTF-8
    ready = Signal(object, QImage)
    failed = Signal(object, str)


class _Task(QRunnable):
    def __init__(self, path, cache_dir, signals, px):
        super().__init__()
        self.path, self.cache_dir, self.signals, self.px = path, cache_dir, signals, px

    def run(self):
        try:
            img = make_thumbnail(self.path, self.cache_dir, self.px)
        except Exception as exc:       # an unreadable photo gets a placeholder, never a crash
            self.signals.failed.emit(self.path, str(exc) or type(exc).__name__)
        else:
            self.signals.ready.emit(self.path, img)


def placeholder(px: int, text: str = "?", dark: bool = False) -> QPixmap:
    pm = QPixmap(px, px)
    pm.fill(QColor(60, 60, 64) if dark else QColor(220, 220, 224))
    p = QPainter(pm)
    p.setPen(QColor(150, 150, 155))
    p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pm


class ThumbLoader(QObject):
    """`get(path)` returns a pixmap at once or None and emits `ready(path)` when it has one."""
    ready = Signal(object)

    def __init__(self, cache_dir=None, parent=None, threads: int = 2, px: int = THUMB_PX):
        super().__init__(parent)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.px = px
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._signals = _Signals(self)
        self._signals.ready.connect(self._on_ready)
        self._signals.failed.connect(self._on_failed)
        self._mem: OrderedDict[str, QPixmap] = OrderedDict()
        self._broken: dict[str, str] = {}
        self._pending: set[str] = set()
        self._priority = 0
        self._closed = False

    def get(self, path: str) -> QPixmap | None:
        pm = self._mem.get(path)
        if pm is not None:
            self._mem.move_to_end(path)
            return pm
        if path in self._broken or path in self._pending or self._closed:
            return None
        if len(self._pending) >= MAX_PENDING:
            self.pool.clear()             # drop the requests queued for rows scrolled past
            self._pending.clear()
        self._pending.add(path)
        self._priority = (self._priority + 1) % 1_000_000_000
        self.pool.start(_Task(path, self.cache_dir, self._signals, self.px), self._priority)
        return None

    def is_broken(self, path: str) -> bool:
        return path in self._broken

    def _on_ready(self, path, img):
        self._pending.discard(path)
        self._mem[path] = QPixmap.fromImage(img)
        while len(self._mem) > MEMORY_ITEMS:
            self._mem.popitem(last=False)
        self.ready.emit(path)

    def _on_failed(self, path, reason):
        self._pending.discard(path)
        self._broken[path] = reason
        self.ready.emit(path)

    def forget(self, paths=None):
        for p in (paths if paths is not None else list(self._mem)):
            self._mem.pop(p, None)
            self._broken.pop(p, None)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        self._closed = True
        self.pool.clear()
        self._pending.clear()
        return self.pool.waitForDone(timeout_ms)
