"""Optional face crop: the largest face found by OpenCV's Haar cascade, with a margin.

OpenCV is imported on first use only; opencv-python-headless<5 ships the cascade files.
"""
from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

MARGIN = 0.3          # fraction of the face box added on every side
DETECT_SIDE = 640     # detection runs on a copy no larger than this

_local = threading.local()   # CascadeClassifier is not thread-safe: one per thread
_import_lock = threading.Lock()


class FaceCropUnavailable(RuntimeError):
    pass


def _cascade():
    c = getattr(_local, "cascade", None)
    if c is None:
        try:
            with _import_lock:       # a concurrent first import can see cv2 without cv2.data
                import cv2
                import cv2.data
        except ImportError as exc:  # pragma: no cover - a dependency
            raise FaceCropUnavailable(f"OpenCV is not installed: {exc}") from None
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise FaceCropUnavailable(f"cannot load the face cascade {path}")
        _local.cascade = c
    return c


def find_largest_face(image: Image.Image):
    """(left, top, right, bottom) of the largest face in image pixels, or None."""
    scale = min(1.0, DETECT_SIDE / max(image.size))
    small = image if scale == 1.0 else image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    gray = np.asarray(small.convert("L"))
    faces = _cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return (x / scale, y / scale, (x + w) / scale, (y + h) / scale)


def crop_largest_face(image: Image.Image, margin: float = MARGIN) -> Image.Image:
    """The largest face with a margin; the whole picture when no face is found."""
    box = find_largest_face(image)
    if box is None:
        return image
    l, t, r, b = box
    mw, mh = (r - l) * margin, (b - t) * margin
    l, t = max(0, int(l - mw)), max(0, int(t - mh))
    r, b = min(image.width, int(r + mw + 0.5)), min(image.height, int(b + mh + 0.5))
    return image.crop((l, t, r, b))
