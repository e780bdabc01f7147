"""Decoding photos into RGB pictures, the one way the engine and the trainer both use.

Every reason a file cannot be read becomes a `DecodeError` with a short, human message;
callers record it as a problem and go on.
"""
from __future__ import annotations

import io
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from PIL import Image, UnidentifiedImageError

from .discover import is_raw

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


@dataclass(frozen=True)
class Capture:
    """What the camera wrote about the shot (EXIF), None where absent: `taken_at` is the date
    shown and sorted by (DateTimeOriginal, else the file's DateTime, which editors rewrite);
    the others are kept as the camera wrote them, for telling two shots from one
    (core.relation.two_shots): DateTimeOriginal, SubSecTimeOriginal, ExposureTime (seconds),
    camera make and model."""
    taken_at: str | None = None
    original: str | None = None
    subsec: str | None = None
    exposure: float | None = None
    camera: str | None = None


@dataclass
class Decoded:
    image: Image.Image      # RGB, orientation applied, possibly reduced (draft)
    width: int              # full size as displayed (after orientation)
    height: int
    capture: Capture = field(default_factory=Capture)

    @property
    def taken_at(self) -> str | None:
        """EXIF DateTimeOriginal (else DateTime) as ISO 8601, if present."""
        return self.capture.taken_at


def _register_heif():
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif
            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            log.warning("pillow-heif is not installed: HEIC/HEIF files cannot be read")
        from PIL import features
        if not features.check("avif"):          # Pillow < 11.2 reads AVIF through a plugin
            try:
                import pillow_avif  # noqa: F401
            except ImportError:
                log.info("this Pillow cannot read AVIF (Pillow >= 11.2 or pillow-avif-plugin can)")
        _heif_registered = True


_ORIENT_SWAPS = {5, 6, 7, 8}
# EXIF orientation tag -> the transpose that shows the picture upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def _text(raw) -> str | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    text = str(raw).strip("\x00 ") if raw is not None else ""
    return text or None


def _date(raw) -> str | None:
    text = _text(raw)
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S").isoformat() if text else None
    except ValueError:
        return None


def _seconds(raw) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _capture(exif) -> Capture:
    try:
        sub = exif.get_ifd(0x8769)
    except Exception:
        sub = {}
    original = _date(sub.get(0x9003))
    subsec = _text(sub.get(0x9291))
    make, model = _text(exif.get(0x010F)), _text(exif.get(0x0110))
    camera = model if make and model and model.startswith(make) else " ".join(t for t in (make, model) if t) or None
    return Capture(taken_at=original or _date(exif.get(0x0132)), original=original,
                   subsec=subsec if subsec and subsec.isdigit() else None,
                   exposure=_seconds(sub.get(0x829A)), camera=camera)


def _exif_info(im):
    """(orientation, Capture) from EXIF; a broken EXIF block yields (1, Capture())."""
    try:
        exif = im.getexif()
        orientation = int(exif.get(0x0112, 1) or 1)
        try:
            capture = _capture(exif)
        except Exception as exc:
            log.debug("ignoring unreadable EXIF capture facts: %s", exc)
            capture = Capture()
        return (orientation if 1 <= orientation <= 8 else 1), capture
    except Exception as exc:  # malformed EXIF is common; never fatal
        log.debug("ignoring unreadable EXIF: %s", exc)
        return 1, Capture()


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
    Camera RAW files are read through LibRaw (`load_raw`).
    """
    _register_heif()
    if is_raw(path):
        return load_raw(path, target)
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
        if _rawpy() is not None and _libraw_opens(path):    # a RAW file without its extension
            return load_raw(path, target)
        raise DecodeError("not a recognised image format (unreadable or not a photo)") from None
    except OSError as exc:
        raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
    return _decode_opened(im, target)


def _decode_opened(im, target, orientation=None, taken: Capture | None = None, size=None) -> Decoded:
    """Decode an opened Pillow image; `orientation`, `taken` (the capture facts) and `size`
    (the full picture's, before orientation) override what the image itself says (a RAW's
    preview)."""
    keep_open = False
    try:
        w, h = size or im.size
        if w <= 0 or h <= 0:
            raise DecodeError("image has no pixels")
        limit = MAX_JPEG_PIXELS if im.format == "JPEG" else MAX_PIXELS
        if w * h > limit:
            raise DecodeError(f"too large: {w}x{h} pixels exceeds the {limit // 1_000_000} MP safety limit")
        own_orientation, own_taken = _exif_info(im)
        orientation = own_orientation if orientation is None else orientation
        taken = taken if taken is not None and taken.taken_at else own_taken
        if getattr(im, "is_animated", False):
            im.seek(0)
        iw, ih = im.size
        if target and im.format == "JPEG" and min(iw, ih) > 2 * target:
            im.draft("RGB", (max(target, round(target * iw / min(iw, ih))),
                             max(target, round(target * ih / min(iw, ih)))))
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


# -- camera RAW -------------------------------------------------------------------------------
#: A RAW's embedded preview is used when its short side has at least this many pixels (or the
#: caller's target); smaller ones (a 160x120 thumbnail) are replaced by a half-size develop.
MIN_PREVIEW_SIDE = 512
# LibRaw's `flip` -> the EXIF orientation that shows the picture upright
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def _rawpy():
    try:
        import rawpy
    except ImportError:
        return None
    return rawpy


def _libraw_opens(path) -> bool:
    try:
        with _rawpy().imread(os.fsdecode(path)):
            return True
    except Exception:
        return False


def _raw_taken_at(path, preview) -> Capture | None:
    """EXIF capture facts of a RAW: its preview's EXIF, else the RAW's own TIFF structure (most
    RAWs); None when neither says when it was taken."""
    for source in (preview, path):
        if source is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(source) as im:
                    taken = _exif_info(im)[1]
        except Exception:
            continue
        if taken.taken_at:
            return taken
    return None


def load_raw(path, target: int | None = None) -> Decoded:
    """A camera RAW file as RGB: the embedded JPEG preview when it is large enough (what the
    camera showed; fast), else LibRaw's develop at half size. Orientation from the RAW."""
    rawpy = _rawpy()
    if rawpy is None:
        raise DecodeError("a camera RAW file: reading it needs rawpy (pip install rawpy)")
    try:
        raw = rawpy.imread(os.fsdecode(path))
    except FileNotFoundError:
        raise DecodeError("file vanished before it could be read") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except Exception as exc:                       # rawpy's LibRawError family, IOError
        raise DecodeError(f"not a readable camera RAW file ({type(exc).__name__}: {exc})") from None
    with raw:
        try:
            sizes = raw.sizes
            orientation = _FLIP_TO_ORIENTATION.get(int(sizes.flip), 1)
            full = (int(sizes.width), int(sizes.height))
            preview = _raw_preview(raw, rawpy, max(MIN_PREVIEW_SIDE, target or 0))
            if preview is not None:
                taken = _raw_taken_at(path, io.BytesIO(preview) if isinstance(preview, bytes) else None)
                im = Image.open(io.BytesIO(preview)) if isinstance(preview, bytes) else preview
                return _decode_opened(im, target, orientation=orientation, taken=taken, size=full)
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8, no_auto_bright=False)
        except DecodeError:
            raise
        except MemoryError:
            raise DecodeError("too large to develop") from None
        except Exception as exc:
            raise DecodeError(f"damaged camera RAW file ({type(exc).__name__}: {exc})") from None
    # postprocess applies the flip itself
    w, h = full if orientation not in _ORIENT_SWAPS else full[::-1]
    return Decoded(Image.fromarray(np.ascontiguousarray(rgb[..., :3])).convert("RGB"), w, h,
                   _raw_taken_at(path, None) or Capture())


def _raw_preview(raw, rawpy, min_side):
    """The embedded preview as JPEG bytes or an RGB image, None when absent or too small."""
    try:
        thumb = raw.extract_thumb()
    except Exception:                   # LibRawNoThumbnailError, LibRawUnsupportedThumbnailError
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        data = bytes(thumb.data)
        try:
            with Image.open(io.BytesIO(data)) as im:
                side = min(im.size)
        except Exception:
            return None
        return data if side >= min_side else None
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        arr = np.asarray(thumb.data)
        if arr.ndim == 3 and min(arr.shape[:2]) >= min_side:
            return Image.fromarray(np.ascontiguousarray(arr[..., :3]).astype(np.uint8))
    return None


def load_rgb(path, target: int | None = None) -> Image.Image:
    """Shortcut: just the RGB picture (raises DecodeError)."""
    return load(path, target).image
