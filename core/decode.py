"""Decoding photos into RGB pictures, the one way the engine and the trainer both use.

Every reason a file cannot be read becomes a `DecodeError` with a short, human message;
callers record it as a problem and go on.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

#: Refuse pictures with more pixels than this (decompression-bomb guard). JPEGs are
#: decoded in draft mode at a fraction of their size, so they may be larger.
MAX_PIXELS = 200_000_000
MAX_JPEG_PIXELS = 1_000_000_000

# Pillow's own guard would raise for large but legitimate panoramas; we check ourselves.
Image.MAX_IMAGE_PIXELS = None

_heif_registered = False


class DecodeError(Exception):
    """A file could not be read as a photo; str(error) says why, for a person."""


@dataclass
class Decoded:
    image: Image.Image      # RGB, orientation applied, possibly reduced (draft)
    width: int              # full size as displayed (after orientation)
    height: int
    taken_at: str | None    # EXIF DateTimeOriginal as ISO 8601, if present


def _register_heif():
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif
            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            log.warning("pillow-heif is not installed: HEIC/HEIF files cannot be read")
        _heif_registered = True


_ORIENT_SWAPS = {5, 6, 7, 8}
# EXIF orientation tag -> the transpose that shows the picture upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def _exif_info(im):
    """(orientation, taken_at) from EXIF; a broken EXIF block yields (1, None)."""
    try:
        exif = im.getexif()
        orientation = int(exif.get(0x0112, 1) or 1)
        taken = None
        try:
            sub = exif.get_ifd(0x8769)
            raw = sub.get(0x9003) or exif.get(0x0132)
        except Exception:
            raw = exif.get(0x0132)
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "replace")
        if raw:
            try:
                taken = datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
            except ValueError:
                taken = None
        return (orientation if 1 <= orientation <= 8 else 1), taken
    except Exception as exc:  # malformed EXIF is common; never fatal
        log.debug("ignoring unreadable EXIF: %s", exc)
        return 1, None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im)
        if a.dtype != np.uint8:
            hi = 65535 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255
            a = (np.clip(a.astype(np.float32), 0, hi) * (255.0 / hi)).round().astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float32)
        lo, hi = float(a.min(initial=0)), float(a.max(initial=1))
        a = ((a - lo) / max(hi - lo, 1e-6) * 255).round().astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if im.mode in ("P", "PA") or "A" in im.getbands() or "transparency" in im.info:
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


def load(path, target: int | None = None) -> Decoded:
    """Read the first frame of a photo as RGB with its EXIF orientation applied.

    With `target`, JPEGs are decoded in draft mode straight to the smallest scale whose
    short side is still >= `target` pixels (a 12 MP photo decodes several times faster).
    """
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
    except FileNotFoundError:
        raise DecodeError("file vanished before it could be read") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except IsADirectoryError:
        raise DecodeError("is a directory") from None
    except UnidentifiedImageError:
        raise DecodeError("not a recognised image format (unreadable or not a photo)") from None
    except OSError as exc:
        raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
    keep_open = False
    try:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise DecodeError("image has no pixels")
        limit = MAX_JPEG_PIXELS if im.format == "JPEG" else MAX_PIXELS
        if w * h > limit:
            raise DecodeError(f"too large: {w}x{h} pixels exceeds the {limit // 1_000_000} MP safety limit")
        orientation, taken = _exif_info(im)
        if getattr(im, "is_animated", False):
            im.seek(0)
        if target and im.format == "JPEG" and min(w, h) > 2 * target:
            im.draft("RGB", (max(target, round(target * w / min(w, h))),
                             max(target, round(target * h / min(w, h)))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.load()
            rgb = to_rgb(im)
        if orientation != 1:
            rgb = rgb.transpose(_TRANSPOSE[orientation])
        keep_open = rgb is im   # already RGB and upright: the picture is the opened image
        if orientation in _ORIENT_SWAPS:
            w, h = h, w
        return Decoded(rgb, w, h, taken)
    except DecodeError:
        raise
    except FileNotFoundError:
        raise DecodeError("file vanished while it was being read") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - MAX_IMAGE_PIXELS is None
        raise DecodeError(f"too large: {exc}") from None
    except (OSError, SyntaxError, ValueError, IndexError, EOFError, MemoryError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            msg = f"truncated or damaged file ({msg})"
        else:
            msg = f"damaged or unsupported image data ({msg})"
        raise DecodeError(msg) from None
    finally:
        if not keep_open:
            im.close()


def load_rgb(path, target: int | None = None) -> Image.Image:
    """Shortcut: just the RGB picture (raises DecodeError)."""
    return load(path, target).image
