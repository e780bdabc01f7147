"""bench/gpu_pack.py: what a GPU run carries must fit the device tool's budget."""
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import shapes

ROOT = Path(__file__).resolve().parents[2]


def _gpu_pack():
    spec = importlib.util.spec_from_file_location("gpu_pack", ROOT / "bench" / "gpu_pack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture()
def sources(tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    rows = []
    for i in range(30):
        shapes(i, (640, 480), n=12, max_size=(200, 160)).save(pool / f"{i:05d}.jpg", quality=95)
        rows.append({"file": f"{i:05d}.jpg", "repo": "someone/photos", "licence": "CC0"})
    (pool / "manifest.json").write_text(json.dumps(rows))
    kit = tmp_path / "bench-train"
    (kit / "images").mkdir(parents=True)
    for i in range(3):
        shapes(100 + i, (800, 600)).save(kit / "images" / f"img_{i}.png")
    (kit / "truth.json").write_text(json.dumps({"groups": [["img_0.png", "img_1.png"]], "singletons": ["img_2.png"]}))
    return pool, kit


def test_the_pack_stays_within_its_budget_and_keeps_sources_and_truth(sources, tmp_path):
    from PIL import Image
    pool, kit = sources
    out = tmp_path / ".gpu"
    budget_mb = 0.05
    assert _gpu_pack().main(["--pool", str(pool), "--kit", str(kit), "--out", str(out),
                             "--budget-mb", str(budget_mb), "--no-wheels"]) == 0
    files = [p for p in out.rglob("*") if p.is_file() and p.name not in ("manifest.json", "truth.json")]
    assert sum(p.stat().st_size for p in files) <= budget_mb * 1e6
    photos = sorted((out / "pool").glob("*.jpg"))
    assert 0 < len(photos) < 30                       # the budget, not the pool, ended it
    for p in photos:
        with Image.open(p) as im:
            assert max(im.size) == 320
    kept = json.loads((out / "pool" / "manifest.json").read_text())["photos"]
    assert sorted(r["file"] for r in kept) == sorted(p.name for p in photos)
    assert all(r["licence"] == "CC0" for r in kept)
    assert json.loads((out / "kit-train" / "truth.json").read_text()) == json.loads((kit / "truth.json").read_text())
    assert sorted(p.name for p in (out / "kit-train" / "images").iterdir()) == ["img_0.png", "img_1.png", "img_2.png"]


def test_the_kits_eval_part_is_refused(sources, tmp_path):
    pool, kit = sources
    ev = kit.rename(tmp_path / "bench-eval")
    with pytest.raises(SystemExit):
        _gpu_pack().main(["--pool", str(pool), "--kit", str(ev), "--out", str(tmp_path / "o"), "--no-wheels"])
