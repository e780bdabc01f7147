import io

import numpy as np
import pytest
from PIL import Image

from lookalike.core import decode
from lookalike.core.decode import DecodeError


def save_jpeg_with_orientation(img, path, tag):
    exif = Image.Exif()
    exif[0x0112] = tag
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_is_applied(tmp_path, make_photo):
    upright = make_photo(1, (300, 200))
    # tag 6: the stored pixels must be rotated 90 degrees clockwise to be shown upright
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    save_jpeg_with_orientation(stored, tmp_path / "a.jpg", 6)
    d = decode.load(tmp_path / "a.jpg")
    assert (d.width, d.height) == (300, 200)
    assert d.image.size == (300, 200)
    diff = np.abs(np.asarray(d.image, np.float32) - np.asarray(upright, np.float32)).mean()
    assert diff < 6


def test_capture_facts_are_read_apart_from_the_date_shown(tmp_path, make_photo):
    """DateTimeOriginal, SubSecTimeOriginal, ExposureTime and the camera are what the camera
    wrote; the date shown falls back to DateTime (which editors rewrite), the capture time not."""
    from PIL.TiffImagePlugin import IFDRational
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 80D"
    exif[0x0132] = "2025:01:02 18:30:00"
    exif[0x8769] = {0x9003: "2024:05:01 10:00:01", 0x9291: "57", 0x829A: IFDRational(1, 250)}
    make_photo(3).save(tmp_path / "shot.jpg", quality=90, exif=exif.tobytes())
    c = decode.load(tmp_path / "shot.jpg").capture
    assert c == decode.Capture("2024-05-01T10:00:01", "2024-05-01T10:00:01", "57", 0.004, "Canon EOS 80D")
    edited = Image.Exif()
    edited[0x0132] = "2025:01:02 18:30:00"
    make_photo(3).save(tmp_path / "edited.jpg", quality=90, exif=edited.tobytes())
    d = decode.load(tmp_path / "edited.jpg")
    assert d.taken_at == "2025-01-02T18:30:00" and d.capture.original is None


def test_broken_exif_block_still_decodes(tmp_path, make_photo):
    buf = io.BytesIO()
    make_photo(2).save(buf, "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff garbage")
    (tmp_path / "b.jpg").write_bytes(buf.getvalue())
    assert decode.load(tmp_path / "b.jpg").image.size == (320, 240)


def test_jpeg_draft_mode_decodes_near_the_target_size(tmp_path, make_photo):
    make_photo(3, (4000, 3000)).save(tmp_path / "big.jpg", quality=90)
    d = decode.load(tmp_path / "big.jpg", target=224)
    assert (d.width, d.height) == (4000, 3000)
    assert 224 <= min(d.image.size) <= 3 * 224 * 2


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "RGBA", "LA", "I;16"])
def test_every_pixel_mode_becomes_rgb(tmp_path, make_photo, mode):
    src = make_photo(4)
    if mode == "I;16":
        a = (np.asarray(src.convert("L"), np.uint16) * 257)
        img = Image.fromarray(a)
        path = tmp_path / "x.png"
    elif mode == "CMYK":
        img, path = src.convert("CMYK"), tmp_path / "x.jpg"
    elif mode == "P":
        img, path = src.convert("P", palette=Image.Palette.ADAPTIVE), tmp_path / "x.gif"
    else:
        img, path = src.convert(mode), tmp_path / "x.png"
    img.save(path)
    out = decode.load(path).image
    assert out.mode == "RGB" and out.size == (320, 240)
    if mode in ("I;16", "L", "LA"):
        # the 16-bit and grey copies keep the picture's brightness, not a black or white frame
        ref = np.asarray(src.convert("L"), np.float32)
        assert np.abs(np.asarray(out.convert("L"), np.float32) - ref).mean() < 3


def test_transparent_pixels_are_composited_on_white(tmp_path):
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    img.save(tmp_path / "t.png")
    assert decode.load(tmp_path / "t.png").image.getpixel((5, 5)) == (255, 255, 255)


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    r, g, b = decode.load(tmp_path / "a.gif").image.getpixel((10, 10))
    assert r > 200 and b < 50


@pytest.mark.parametrize("content,reason", [
    (b"", "not a recognised image"),
    (b"hello, I am a text file\n" * 10, "not a recognised image"),
])
def test_unreadable_content_gives_a_reason(tmp_path, content, reason):
    (tmp_path / "x.jpg").write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        decode.load(tmp_path / "x.jpg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_gives_a_reason(tmp_path, make_photo, fmt):
    buf = io.BytesIO()
    make_photo(5).save(buf, fmt)
    data = buf.getvalue()
    (tmp_path / "x").write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated|damaged"):
        decode.load(tmp_path / "x")


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    Image.new("RGB", (300, 300)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(decode, "MAX_PIXELS", 50_000)
    with pytest.raises(DecodeError, match="too large"):
        decode.load(tmp_path / "bomb.png")


def test_vanished_and_unreadable_files_give_reasons(tmp_path, monkeypatch, make_photo):
    with pytest.raises(DecodeError, match="vanished"):
        decode.load(tmp_path / "gone.jpg")
    make_photo(6).save(tmp_path / "locked.jpg")

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(decode.Image, "open", deny)
    with pytest.raises(DecodeError, match="permission denied"):
        decode.load(tmp_path / "locked.jpg")


def test_heic_is_decoded(tmp_path, make_photo):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    make_photo(7).save(tmp_path / "x.heic", quality=90)
    assert decode.load(tmp_path / "x.heic").image.size == (320, 240)
