"""Camera RAW files: found, decoded through LibRaw (preview or develop), paired with the camera's
JPEG of the same shot, and never suggested for removal as one of such a pair.

The RAW fixtures are tiny DNG files written with tifffile (a 16-bit Bayer mosaic with the
DNG tags LibRaw needs), so the real rawpy/LibRaw path runs; the JPEG-preview path of other
RAW formats is tested with a stand-in for rawpy.
"""
from __future__ import annotations

import io
import types

import numpy as np
import pytest
from PIL import Image

from lookalike.core import decode, discover
from lookalike.core.actions import mark_by_rule
from lookalike.core.decode import DecodeError

rawpy = pytest.importorskip("rawpy", reason="rawpy (LibRaw) is not installed")
tifffile = pytest.importorskip("tifffile", reason="tifffile writes the DNG fixtures (dev extra)")

# XYZ -> linear sRGB: as the DNG's ColorMatrix1, the "camera" sees linear sRGB
XYZ_TO_SRGB = [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]


def _srational(values):
    out = []
    for v in np.asarray(values).ravel():
        out += [int(round(v * 10000)), 10000]
    return tuple(out)


def write_dng(path, picture: Image.Image, preview: Image.Image | None = None, orientation: int = 1):
    """A minimal DNG of `picture`: an RGGB mosaic of its linear light (14 bits), and optionally
    an uncompressed RGB preview in IFD0 with the mosaic in a SubIFD (the DNG layout)."""
    rgb = np.asarray(picture.convert("RGB"))
    lin = ((rgb.astype(np.float64) / 255) ** 2.2 * 16383).astype(np.uint16)
    cfa = np.zeros(rgb.shape[:2], np.uint16)
    cfa[0::2, 0::2] = lin[0::2, 0::2, 0]
    cfa[0::2, 1::2] = lin[0::2, 1::2, 1]
    cfa[1::2, 0::2] = lin[1::2, 0::2, 1]
    cfa[1::2, 1::2] = lin[1::2, 1::2, 2]
    dng = [(50706, "B", 4, (1, 4, 0, 0), True),                 # DNGVersion
           (50708, "s", 0, "Lookalike Test", True),              # UniqueCameraModel
           (274, "H", 1, orientation, True)]                     # Orientation
    color = [(50721, "2i", 9, _srational(XYZ_TO_SRGB), True),    # ColorMatrix1
             (50778, "H", 1, 21, True),                          # CalibrationIlluminant1: D65
             (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True)]         # AsShotNeutral
    mosaic = [(33421, "H", 2, (2, 2), True),                     # CFARepeatPatternDim
              (33422, "B", 4, (0, 1, 1, 2), True),               # CFAPattern: RGGB
              (50717, "I", 1, 16383, True)]                      # WhiteLevel
    with tifffile.TiffWriter(path) as tw:
        if preview is None:
            tw.write(cfa, photometric=32803, extratags=dng + mosaic + color, subfiletype=0, metadata=None)
        else:
            tw.write(np.asarray(preview.convert("RGB")), photometric="rgb", extratags=dng + color,
                     subfiletype=1, subifds=1, metadata=None)
            tw.write(cfa, photometric=32803, extratags=mosaic, subfiletype=0, metadata=None)


def _diff(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_a_dng_without_a_preview_is_developed_at_half_size(tmp_path, make_photo):
    pic = make_photo(7, (400, 300))
    write_dng(tmp_path / "IMG_0007.DNG", pic)
    d = decode.load(tmp_path / "IMG_0007.DNG")
    assert (d.width, d.height) == (400, 300)              # the sensor's size, not the develop's
    assert d.image.mode == "RGB" and d.image.size == (200, 150)
    assert _diff(d.image, pic) < 20                       # the picture, not a grey mosaic


def test_a_raw_preview_is_used_with_the_raws_orientation(tmp_path, make_photo, monkeypatch):
    pic = make_photo(8, (400, 300))
    marked = pic.copy()
    marked.paste((255, 0, 0), (0, 0, 100, 100))           # only the preview has the red square
    write_dng(tmp_path / "p.dng", pic, preview=marked, orientation=6)
    monkeypatch.setattr(decode, "MIN_PREVIEW_SIDE", 64)
    d = decode.load(tmp_path / "p.dng")
    assert (d.width, d.height) == (300, 400) and d.image.size == (300, 400)   # turned upright
    upright = marked.transpose(Image.Transpose.ROTATE_270)                  # 90° clockwise
    assert _diff(d.image, upright) < 3
    # a preview smaller than the minimum is not used: the develop has no red square
    monkeypatch.setattr(decode, "MIN_PREVIEW_SIDE", 512)
    developed = decode.load(tmp_path / "p.dng").image
    assert developed.size == (150, 200) and np.asarray(developed)[:20, -20:, 0].mean() < 250


class FakeRaw:
    """Enough of rawpy.RawPy for the preview path: a JPEG thumbnail, no develop."""

    def __init__(self, jpeg: bytes, flip=0, size=(6000, 4000)):
        self.sizes = types.SimpleNamespace(flip=flip, width=size[0], height=size[1])
        self._jpeg = jpeg

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def extract_thumb(self):
        return types.SimpleNamespace(format=rawpy.ThumbFormat.JPEG, data=self._jpeg)

    def postprocess(self, **kw):
        raise AssertionError("developed although the preview is large enough")


def test_the_embedded_jpeg_preview_is_decoded_in_draft_mode(tmp_path, make_photo, monkeypatch):
    buf = io.BytesIO()
    make_photo(9, (1600, 1200)).save(buf, "JPEG", quality=92)
    fake = types.SimpleNamespace(imread=lambda p: FakeRaw(buf.getvalue(), flip=5),
                                 ThumbFormat=rawpy.ThumbFormat)
    monkeypatch.setattr(decode, "_rawpy", lambda: fake)
    for ext in ("CR3", "nef", "ARW", "raf", "orf", "rw2", "cr2"):
        (tmp_path / f"x.{ext}").write_bytes(b"stand-in")
        d = decode.load(tmp_path / f"x.{ext}", target=224)
        assert (d.width, d.height) == (4000, 6000)        # flip 5: turned 90° counter-clockwise
        assert 224 <= min(d.image.size) < 1200            # draft mode: not the whole preview
        assert d.image.size[0] < d.image.size[1]


def test_a_raw_without_rawpy_or_with_bad_data_is_a_problem_with_a_reason(tmp_path, monkeypatch):
    (tmp_path / "bad.nef").write_bytes(b"II*\x00" + b"\x00" * 200)
    with pytest.raises(DecodeError, match="camera RAW"):
        decode.load(tmp_path / "bad.nef")
    monkeypatch.setattr(decode, "_rawpy", lambda: None)
    with pytest.raises(DecodeError, match="needs rawpy"):
        decode.load(tmp_path / "bad.nef")


def test_raw_files_are_found_and_pairs_recognised_by_folder_and_name(tmp_path):
    for name in ("IMG_1.CR3", "IMG_1.JPG", "DSC_2.nef", "x.arw", "notes.txt"):
        (tmp_path / name).write_bytes(b"\xff\xd8\xff" + b"\x00" * 20)
    found = sorted(e.path.rsplit("/", 1)[1] for e in discover.walk([tmp_path]) if isinstance(e, discover.FileEntry))
    assert found == ["DSC_2.nef", "IMG_1.CR3", "IMG_1.JPG", "x.arw"]
    assert discover.raw_jpeg_pair("/a/IMG_1.CR3", "/a/img_1.jpg")
    assert discover.raw_jpeg_pair("/a/IMG_1.jpeg", "/a/IMG_1.dng")
    assert not discover.raw_jpeg_pair("/a/IMG_1.CR3", "/b/IMG_1.jpg")      # another folder
    assert not discover.raw_jpeg_pair("/a/IMG_1.CR3", "/a/IMG_2.jpg")      # another shot
    assert not discover.raw_jpeg_pair("/a/IMG_1.jpg", "/a/IMG_1.png")      # no RAW


def test_a_raw_and_its_camera_jpeg_are_one_group_labelled_a_pair_and_no_rule_marks_them(
        tmp_path, make_photo, tiny_bundle):
    from lookalike.core.library import Library
    shots = tmp_path / "card"
    shots.mkdir()
    pic = make_photo(11, (400, 300))
    write_dng(shots / "IMG_0011.dng", pic)
    pic.save(shots / "IMG_0011.jpg", quality=92)                   # the camera's JPEG
    pic.resize((200, 150)).save(shots / "IMG_0011_small.jpg")      # a resized copy of it
    make_photo(12, (400, 300)).save(shots / "other.jpg")
    with Library(write=True) as lib:
        bundle = lib.bundle(tiny_bundle)
        lib.scan([str(shots)], bundle)
        assert lib.problems() == []
        groups = lib.describe_groups(lib.grouper(bundle).groups(bundle.thresholds["duplicate"]))
    assert len(groups) == 1
    by_name = {m.path.rsplit("/", 1)[1]: m for m in groups[0]}
    assert set(by_name) == {"IMG_0011.dng", "IMG_0011.jpg", "IMG_0011_small.jpg"}
    assert by_name["IMG_0011.dng"].raw_jpeg_pair and by_name["IMG_0011.jpg"].raw_jpeg_pair
    assert not by_name["IMG_0011_small.jpg"].raw_jpeg_pair
    assert by_name["IMG_0011.dng"].width == 400
    for rule in ("highest_resolution", "largest", "oldest", "newest"):
        marked = {p.rsplit("/", 1)[1] for p in mark_by_rule(groups[0], rule)}
        assert marked <= {"IMG_0011_small.jpg"}, rule


@pytest.mark.skipif(not __import__("PIL.features", fromlist=["check"]).check("avif"),
                    reason="this Pillow cannot write AVIF")
def test_avif_photos_are_found_and_read(tmp_path, make_photo):
    pic = make_photo(13, (320, 240))
    pic.save(tmp_path / "a.avif", quality=90)
    pic.save(tmp_path / "no_extension", "AVIF", quality=90)
    found = {e.path.rsplit("/", 1)[1] for e in discover.walk([tmp_path]) if isinstance(e, discover.FileEntry)}
    assert found == {"a.avif", "no_extension"}
    d = decode.load(tmp_path / "a.avif")
    assert d.image.size == (320, 240) and _diff(d.image, pic) < 8
