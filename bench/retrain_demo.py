"""Retraining on a small labelled set: does it beat the model it starts from?

Builds a labelled folder (one subfolder per subject) from a list of photos: each subject is one
scene seen in several "shots" (different framings covering 20-45% of it, partly overlapping, a
tilt, other exposure, re-encoded), the way a series of one place or one object looks. The
starting model was trained to keep *different* parts of a photo apart (near-miss crops), so
this is a real change of what "alike" means, the case retraining is for. Then runs the default
retrain (`python -m lookalike.trainer DATA --out DIR --init-from MODEL`, time budget
`--minutes`) and prints the validation numbers before and after (validation = held-out
subjects, split by the trainer), the time and the CPU time.

    python bench/retrain_demo.py --photos /tmp/train_list.txt --work /tmp/retrain150 --per-subject 5
    python bench/retrain_demo.py --photos /tmp/train_list.txt --work /tmp/retrain500 --per-subject 17 --seed 2
    python bench/retrain_demo.py --photos /tmp/train_list.txt --work /tmp/retrain144 --subjects 12 \
        --per-subject 12 --seed 3

Use only photos the benchmark does not measure on (the kit's `--part train` list).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]


def shots(im: Image.Image, n: int, rng: np.random.Generator, areas=(0.2, 0.45)):
    w, h = im.size
    for _ in range(n):
        area = rng.uniform(*areas)
        aspect = rng.uniform(0.8, 1.25)
        cw = int(min(w, w * np.sqrt(area * aspect)))
        ch = int(min(h, h * np.sqrt(area / aspect)))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        s = im.crop((x0, y0, x0 + cw, y0 + ch))
        s = s.rotate(float(rng.uniform(-6, 6)), resample=Image.BICUBIC, expand=False)
        s = ImageEnhance.Brightness(s).enhance(float(rng.uniform(0.7, 1.3)))
        s = ImageEnhance.Color(s).enhance(float(rng.uniform(0.8, 1.2)))
        s.thumbnail((800, 800))
        yield s


def build(photos, out: Path, per_subject: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    n = 0
    for i, p in enumerate(photos):
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((1600, 1600))
            sub = out / f"subject_{i:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            for j, s in enumerate(shots(im, per_subject, rng)):
                s.save(sub / f"shot_{j}.jpg", quality=int(rng.integers(75, 95)))
                n += 1
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", required=True, help="text file with one photo path per line")
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--model", default=str(ROOT / "resources" / "models" / "default"))
    ap.add_argument("--per-subject", type=int, default=8)
    ap.add_argument("--subjects", type=int, default=0, help="use only the first N photos (0 = all)")
    ap.add_argument("--minutes", type=float, default=None, help="time budget (trainer default: 8)")
    ap.add_argument("--search", type=int, default=0, help="hyperparameter trials (trainer --search)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    photos = [line.strip() for line in Path(a.photos).read_text().splitlines() if line.strip()]
    if a.subjects:
        photos = photos[:a.subjects]
    data, out = a.work / "labelled", a.work / "model"
    if not data.is_dir():
        print(f"built {build(photos, data, a.per_subject, a.seed)} shots of {len(photos)} subjects in {data}")
    cmd = [sys.executable, "-m", "lookalike.trainer", str(data), "--out", str(out),
           "--init-from", a.model, "--seed", str(a.seed)]
    if a.minutes is not None:
        cmd += ["--minutes", str(a.minutes)]
    if a.search:
        cmd += ["--search", str(a.search)]
    print("$", " ".join(cmd), flush=True)
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    took = time.time() - t
    rep = json.loads((out / "report.json").read_text())
    b, f = rep["validation_before"], rep["validation"]
    t = rep["training"]
    print(f"trained in {took:.0f} s, {t.get('cpu_seconds')} CPU s ({t['steps']} steps, "
          f"{t.get('edited_copies_per_photo')} edited copies per photo, stopped: {t.get('stopped')}); "
          f"{rep['trained_on']}")
    print(f"{'':28}{'before':>9}{'after':>9}")
    for k in ("val_at_far_0.01", "val_at_far_0.001", "recall_at_1", "recall_at_precision_0.99", "auc"):
        print(f"{k:28}{b[k]:9.3f}{f[k]:9.3f}")


if __name__ == "__main__":
    main()
