"""Pack what the copy descriptor's GPU run needs into `.gpu/` (git-ignored), for the session's
device tool to carry to a lent GPU machine (issue 17). Not a measurement.

    python bench/gpu_pack.py --pool /work/data/pool --kit /tmp/bench-train [--out .gpu] [--budget-mb 36]

A run there carries at most 64 MiB with the working tree (about 24 MB), and that machine reaches
no network, so:
* `pool/`: pool photos (`bench/make_pool.py`), shrunk to a long side of `--long-side` px (JPEG
  q`--quality`), taken in the order of CRC32 of their file names (a stable, spread-out choice) until
  the budget is spent; `manifest.json` keeps each photo's source and licence from the
  pool's manifest. The model sees 160 px, so 320 px leaves a 35 % crop at its full resolution.
* `kit-train/`: the kit's `--part train` folder (validation: picks the checkpoint), its images
  shrunk the same way, `truth.json` as it is. Never the eval part.
* `wheels/`: the pure-Python packages that machine lacks (pytorch-metric-learning, the
  EfficientNet-Lite code), downloaded here from PyPI.

Then `bash bench/gpu_train.sh` is the device command (see its header).
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

from PIL import Image

WHEELS = ["pytorch-metric-learning==2.9.0", "efficientnet-lite-pytorch==0.1.0"]
EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def shrink(path: Path, long_side: int, quality: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        s = long_side / max(im.size)
        if s < 1:
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BICUBIC)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pool", type=Path, required=True, help="the training pool (bench/make_pool.py)")
    ap.add_argument("--kit", type=Path, required=True, help="a kit folder built from --part train only")
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    ap.add_argument("--budget-mb", type=float, default=36.0, help="photos, kit and wheels together")
    ap.add_argument("--long-side", type=int, default=320)
    ap.add_argument("--quality", type=int, default=85)
    ap.add_argument("--no-wheels", action="store_true", help="(tests) skip the PyPI download")
    a = ap.parse_args(argv)
    if "eval" in a.kit.name:
        ap.error("--kit must be the kit's training part, never the eval part")
    if a.out.exists():
        shutil.rmtree(a.out)
    budget = int(a.budget_mb * 1e6)
    used = 0
    if not a.no_wheels:
        (a.out / "wheels").mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", str(a.out / "wheels"), *WHEELS], check=True)
        used += sum(p.stat().st_size for p in (a.out / "wheels").iterdir())

    kit_out = a.out / "kit-train"
    (kit_out / "images").mkdir(parents=True)
    shutil.copy2(a.kit / "truth.json", kit_out / "truth.json")
    for p in sorted((a.kit / "images").iterdir()):
        data = shrink(p, a.long_side, a.quality)
        # the name (and so the truth) stays; the bytes are a JPEG whatever the suffix says,
        # which the engine's decoder reads by content
        (kit_out / "images" / p.name).write_bytes(data)
        used += len(data)

    manifest = {}
    mf = a.pool / "manifest.json"
    if mf.is_file():
        m = json.loads(mf.read_text())
        rows = m.get("photos", m) if isinstance(m, dict) else m
        if isinstance(rows, list):
            manifest = {r.get("file"): r for r in rows if isinstance(r, dict)}
        elif isinstance(rows, dict):
            manifest = rows
    photos = sorted((p for p in a.pool.iterdir() if p.suffix.lower() in EXTS),
                    key=lambda p: zlib.crc32(str(p.name).encode()))
    (a.out / "pool").mkdir()
    kept = []
    for p in photos:
        data = shrink(p, a.long_side, a.quality)
        if used + len(data) > budget:
            break
        (a.out / "pool" / (p.stem + ".jpg")).write_bytes(data)
        used += len(data)
        kept.append(manifest.get(p.name, {"file": p.name}))
    (a.out / "pool" / "manifest.json").write_text(json.dumps(
        {"from": str(a.pool), "long_side": a.long_side, "quality": a.quality, "photos": kept}, indent=0))
    print(f"{len(kept)} of {len(photos)} pool photos, {len(list((kit_out / 'images').iterdir()))} kit images, "
          f"{used / 1e6:.1f} MB -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
