"""Retake the README's screenshots from real photos, under Xvfb (X11, as a user sees it).

    python docs/screenshots/make.py PHOTOS_DIR [--out docs/screenshots] [--work /tmp/lookalike-shots]

PHOTOS_DIR holds real photos (the benchmark kit's sources: public wallpapers from Debian
packages, see their manifest.json). Twelve of them become an album with the copies a user
has: resized, re-compressed, captioned, cropped, brightened and exact copies. The album is
scanned with the default model into its own library, then the window is shot at 1320x820
(dark and light), at 1024x640, and the compare view with the difference heat map on a
captioned copy. Needs `xvfb-run` (apt install xvfb) and Qt's xcb libraries (README).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

N_PHOTOS = 12
LONG_SIDE = 1600


def make_album(photos_dir: Path, album: Path) -> tuple[Path, Path]:
    """The album; returns (an original, its captioned copy) for the compare shot."""
    from PIL import Image, ImageDraw, ImageEnhance

    sources = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if len(sources) < N_PHOTOS:
        sys.exit(f"need {N_PHOTOS} photos in {photos_dir}, found {len(sources)}")
    if album.exists():
        shutil.rmtree(album)
    phone, archive, edits = album / "Phone", album / "Archive", album / "Edits"
    for d in (phone, archive, edits):
        d.mkdir(parents=True)
    pair = None
    for i, src in enumerate(sources[:N_PHOTOS]):
        im = Image.open(src).convert("RGB")
        im.thumbnail((LONG_SIDE, LONG_SIDE))
        name = f"IMG_{2040 + i}"
        original = album / f"{name}.jpg"
        im.save(original, quality=92)
        if i % 4 != 3:
            im.resize((im.width // 2, im.height // 2)).save(phone / f"{name}_small.jpg", quality=80)
        if i % 3 == 0:
            ImageEnhance.Brightness(im).enhance(1.15).save(edits / f"{name}_bright.jpg", quality=70)
        if i % 5 == 0:
            shutil.copy(original, archive / f"{name} copy.jpg")
        if i % 4 == 1:
            w, h = im.size
            im.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(edits / f"{name}_crop.jpg", quality=88)
        if i == 2:
            cap = im.copy()
            d = ImageDraw.Draw(cap)
            w, h = cap.size
            box = (w // 12, h - h // 5, w // 2, h - h // 12)
            d.rectangle(box, fill=(250, 250, 250))
            d.text((box[0] + h // 60, box[1] + h // 80), "Summer 2024", fill=(20, 20, 20),
                   font_size=(box[3] - box[1]) * 0.6)
            captioned = edits / f"{name}_caption.jpg"
            cap.resize((w * 3 // 4, h * 3 // 4)).save(captioned, quality=85)
            pair = (original, captioned)
    return pair


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lookalike-shots"))
    args = ap.parse_args(argv)
    if shutil.which("xvfb-run") is None:
        sys.exit("xvfb-run is not installed (apt install xvfb)")
    album, lib = args.work / "Pictures", args.work / "library"
    a, b = make_album(args.photos, album)
    for d in (lib, args.work / "config", args.work / "cache"):    # a new user: no settings kept
        if d.exists():
            shutil.rmtree(d)
    env = {**os.environ, "LOOKALIKE_LIBRARY": str(lib), "XDG_CONFIG_HOME": str(args.work / "config"),
           "XDG_CACHE_HOME": str(args.work / "cache"), "QT_QPA_PLATFORM": "xcb"}
    subprocess.run([sys.executable, "-m", "lookalike.app.cli", "-q", "scan", str(album)], env=env, check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = [
        (["--theme", "dark", "--size", "1320x820", "--screenshot", "main-window-dark.png"], {}),
        (["--theme", "light", "--size", "1320x820", "--screenshot", "main-window-light.png"], {}),
        (["--theme", "light", "--size", "1024x640", "--screenshot", "main-window-1024x640.png"], {}),
        (["--theme", "dark", "--size", "1320x820", "--compare", str(a), str(b),
          "--screenshot-compare", "compare-dark.png"], {}),
    ]
    for extra, more_env in shots:
        argv = [a if not a.endswith(".png") else str(args.out / a) for a in extra]
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 2800x1800x24", sys.executable, "-m", "lookalike.app.main", *argv]
        subprocess.run(cmd, env={**env, **more_env}, check=True, timeout=300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
