"""The copy-descriptor recipe (trainer/copydesc.py): loss, cache and a tiny end-to-end run."""
import json
import math

import numpy as np
import pytest

from tests.trainer.conftest import training_stack

torch = training_stack()

from tests.conftest import shapes  # noqa: E402

SIZE = 64


def _naive_info_nce(emb, labels, ignore, t):
    """InfoNCE written out pair by pair: for each positive pair (a, p), -log of
    exp(s_ap/t) / (exp(s_ap/t) + sum over a's negatives exp(s_an/t))."""
    s = (emb @ emb.T).tolist()
    n = len(labels)
    terms = []
    for a in range(n):
        negs = [j for j in range(n) if labels[j] != labels[a] and not ignore[a][j]]
        for p in range(n):
            if p != a and labels[p] == labels[a]:
                num = math.exp(s[a][p] / t)
                den = num + sum(math.exp(s[a][j] / t) for j in negs)
                terms.append(-math.log(num / den))
    return sum(terms) / len(terms)


def test_info_nce_matches_a_naive_loop_and_leaves_out_overlapping_pairs():
    from lookalike.trainer.copydesc import info_nce
    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(8, 5, generator=g), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    ignore = torch.zeros(8, 8, dtype=torch.bool)
    ignore[0, 2] = ignore[2, 0] = ignore[1, 3] = ignore[3, 1] = True
    got = float(info_nce(emb, labels, ignore, 0.1))
    want = _naive_info_nce(emb, labels.tolist(), ignore.tolist(), 0.1)
    assert got == pytest.approx(want, rel=1e-4)
    # without the mask the overlapping pairs count as negatives and the loss differs
    plain = float(info_nce(emb, labels, torch.zeros(8, 8, dtype=torch.bool), 0.1))
    assert plain != pytest.approx(got, rel=1e-3)


def test_koleo_is_lower_for_spread_out_vectors():
    from lookalike.trainer.copydesc import koleo
    spread = torch.eye(4)
    clustered = torch.nn.functional.normalize(torch.ones(4, 4) + 0.01 * torch.eye(4), dim=1)
    assert float(koleo(spread)) < float(koleo(clustered))


def test_overlapping_region_and_its_photo_are_neither_positive_nor_negative():
    from lookalike.trainer.copydesc import FeatureCache
    # classes: photo 0 whole, photo 0 region A, photo 0 region B, photo 1 whole
    cache = FeatureCache(np.zeros((4, 1), np.float16), [0, 1, 2, 3], [0, 0, 0, 1], [0, 1, 2, 0])
    ign = cache.ignore(np.array([0, 1, 2, 3]))
    assert ign[0, 1] and ign[0, 2]                 # a region overlaps its photo
    assert not ign[1, 2]                           # the two regions do not: hard negatives
    assert not ign[0, 3] and not ign[0, 0]


def test_the_region_margin_pushes_apart_only_the_two_regions_of_one_photo():
    from lookalike.trainer.copydesc import FeatureCache, region_margin
    # classes: photo 0 whole, its regions A and B, photo 1 whole; two rows (copies) per class
    cache = FeatureCache(np.zeros((4, 1), np.float16), [0, 1, 2, 3], [0, 0, 0, 1], [0, 1, 2, 0])
    labels = np.repeat(np.arange(4), 2)
    same = torch.nn.functional.normalize(torch.ones(8, 3), dim=1)      # everything alike
    apart = same.clone()
    apart[4:6] = torch.nn.functional.normalize(torch.tensor([1.0, -1.0, 0.0]), dim=0)   # region B apart
    assert float(region_margin(same, labels, np.arange(4), cache, 0.5)) == pytest.approx(0.25)
    assert float(region_margin(apart, labels, np.arange(4), cache, 0.5)) == 0.0     # whole/other photo alike: no cost


def test_anchored_pairs_always_hold_the_unedited_picture():
    from lookalike.trainer.copydesc import FeatureCache, sample_batch
    # 6 photos, each one class of 5 rows; row 0 of each class is its unedited picture
    rows_class = np.repeat(np.arange(6), 5)
    cache = FeatureCache(np.zeros((30, 1), np.float16), rows_class, np.arange(6), np.zeros(6, np.int64))
    rng = np.random.default_rng(0)
    for _ in range(20):
        rows, labels, classes = sample_batch(cache, np.arange(6), 6, rng, anchor=1.0)
        first = rows[0::2]
        assert (first == np.array([cache.rows_of[c][0] for c in classes])).all()
        assert (rows[1::2] != first).all()


@pytest.fixture()
def pool(tmp_path):
    folder = tmp_path / "pool"
    folder.mkdir()
    for i in range(12):
        shapes(i, (160, 120), n=8, max_size=(70, 60)).save(folder / f"p{i:02d}.jpg", quality=92)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def test_tiny_run_writes_a_bundle_the_engine_loads_and_resumes(pool, tmp_path, capsys, monkeypatch):
    from lookalike.core.bundle import load_bundle
    from lookalike.trainer import copydesc
    from lookalike.trainer.copydesc import main
    from tests.trainer.test_benchmark import kit_folder
    work, out = tmp_path / "work", tmp_path / "bundle"
    args = [str(pool), "--work", str(work), "--out", str(out), "--val-bench", str(kit_folder(tmp_path)),
            "--set", f"model.input_size={SIZE}", "--set", "model.embedding_dim=16",
            "--set", "data.val_photos=2", "--set", "data.copies=2",
            "--set", "train.batch=6", "--set", "train.steps=3", "--set", "train.eval_every=2"]
    assert main(args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [e["step"] for e in events if e["event"] == "eval"] == [0, 2, 3]
    assert all("kit_best_f1" in e for e in events if e["event"] == "eval")   # the kit folder was read
    b = load_bundle(out)
    assert b.matches == "copies" and b.thresholds["duplicate"] > b.thresholds["similar"]
    assert b.input.scene_views == ("equalized",)      # the engine's scene vector (similar tier)
    assert json.loads((out / "model.json").read_text())["metrics"]["best_step"] in (0, 2, 3)
    assert (work / "state.pt").is_file() and (work / "train_cache.npz").is_file()
    # a second run with more steps resumes from step 3 on the saved cache (its export, the
    # slow part, is what the first run tested)
    monkeypatch.setattr(copydesc, "export", lambda *a, **k: {})
    assert main(args[:-4] + ["--set", "train.steps=4", "--set", "train.eval_every=2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(e["event"] == "resume" and e["step"] == 3 for e in events)
    assert [e["step"] for e in events if e["event"] == "eval"] == [4]


def test_a_run_can_start_from_another_runs_weights(pool, tmp_path, capsys, monkeypatch):
    """--init: a new run starts from a finished run's best weights, not from the plain
    backbone: its step-0 validation is the first run's best."""
    from lookalike.trainer import copydesc
    from lookalike.trainer.copydesc import main
    monkeypatch.setattr(copydesc, "export", lambda *a, **k: {})
    common = ["--set", f"model.input_size={SIZE}", "--set", "model.embedding_dim=16",
              "--set", "data.val_photos=2", "--set", "data.copies=2", "--set", "train.batch=6",
              "--set", "train.eval_every=2"]
    first = tmp_path / "first"
    assert main([str(pool), "--work", str(first), "--out", str(tmp_path / "b1"), *common,
                 "--set", "train.steps=4", "--set", "train.lr_head=0.05"]) == 0
    evals = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"event": "eval"')]
    best = max(evals, key=lambda e: e["metric"])
    assert best["step"] > 0 and best["metric"] != evals[0]["metric"]    # training moved it
    assert main([str(pool), "--work", str(tmp_path / "second"), "--out", str(tmp_path / "b2"), *common,
                 "--set", "train.steps=1", "--init", str(first / "best.pt")]) == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(e["event"] == "init" for e in events)
    step0 = next(e for e in events if e["event"] == "eval" and e["step"] == 0)
    assert step0["pool_best_f1"] == best["pool_best_f1"] and step0["metric"] == best["metric"]


def test_online_batches_render_two_copies_per_class_the_first_unedited_when_anchored():
    from PIL import Image as _Image
    from lookalike.core.bundle import to_input
    from lookalike.trainer.config import load_config
    from lookalike.trainer.copydesc import DEFAULTS, render_batch
    from lookalike.trainer.train import input_spec
    cfg = load_config(None, overrides=[f"model.input_size={SIZE}"], base=DEFAULTS)
    spec = input_spec(cfg)
    images = [shapes(i, (160, 120), n=8, max_size=(70, 60)) for i in range(6)]
    x, labels, photo, kind = render_batch(images, list(range(6)), 7, 6, cfg, spec, anchor=1.0)
    assert x.shape[0] == len(labels) == 2 * len(photo) and x.dtype == np.float16
    assert (labels[0::2] == labels[1::2]).all() and len(set(labels.tolist())) == len(photo)
    from lookalike.trainer.copydesc import online_input
    from lookalike.trainer.copydesc import build
    model = build(cfg, pretrained=False)
    assert model.gray and x.shape[1] == 1           # a grey model gets the luminance only
    for c in range(len(photo)):
        if kind[c] == 0:              # a whole photo: its first copy is the photo as the engine sees it
            want = model.to_gray(torch.from_numpy(to_input(images[photo[c]], spec))[None])
            got = online_input(model, torch.from_numpy(x[2 * c:2 * c + 2].astype(np.float32)))
            assert float((got[0] - want[0]).abs().max()) < 1e-2
            assert float((got[1] - want[0]).abs().max()) > 0.1    # the other is edited
    # the same step renders the same batch (a resumed run sees what it would have seen)
    again = render_batch(images, list(range(6)), 7, 6, cfg, spec, anchor=1.0)
    assert np.array_equal(again[0], x) and np.array_equal(again[1], labels)
    other = render_batch(images, list(range(6)), 8, 6, cfg, spec, anchor=1.0)
    assert not (other[0].shape == x.shape and np.array_equal(other[0], x))
    assert isinstance(images[0], _Image.Image)


def test_online_run_trains_the_whole_network_from_a_bundles_checkpoint(pool, tmp_path, capsys):
    """data.online: fresh copies every step, no feature cache, every stage trained; --init
    takes a bundle's checkpoint.pt (so a GPU machine needs no ImageNet weights package)."""
    from lookalike.core.bundle import load_bundle
    from lookalike.trainer.copydesc import main
    common = ["--set", f"model.input_size={SIZE}", "--set", "model.embedding_dim=16",
              "--set", "data.val_photos=2", "--set", "data.copies=2", "--set", "train.batch=6",
              "--set", "train.eval_every=2", "--set", "train.workers=1"]
    first = tmp_path / "b1"
    assert main([str(pool), "--work", str(tmp_path / "w1"), "--out", str(first), *common,
                 "--set", "train.steps=2"]) == 0
    capsys.readouterr()
    work, out = tmp_path / "w2", tmp_path / "b2"
    assert main([str(pool), "--work", str(work), "--out", str(out), *common, "--set", "train.steps=3",
                 "--set", "data.online=true", "--set", "model.cache_stages=0", "--set", "train.lr=0.01",
                 "--init", str(first / "checkpoint.pt")]) == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert any(e["event"] == "init" for e in events)
    assert [e["step"] for e in events if e["event"] == "eval"] == [0, 2, 3]
    assert not (work / "train_cache.npz").exists()
    before = torch.load(first / "checkpoint.pt", weights_only=False)["state_dict"]
    after = torch.load(work / "state.pt", weights_only=False)["model"]
    stem = [k for k in before if "_conv_stem" in k][0]         # frozen in the cached recipe
    assert not torch.allclose(before[stem].float(), after[stem].float())
    assert load_bundle(out).matches == "copies"
    # online with the first stages frozen: they keep the checkpoint's weights, the rest trains
    capsys.readouterr()
    work3 = tmp_path / "w3"
    assert main([str(pool), "--work", str(work3), "--out", str(tmp_path / "b3"), *common,
                 "--set", "train.steps=2", "--set", "data.online=true", "--set", "model.cache_stages=9",
                 "--set", "train.lr=0.01", "--set", "train.keep_states=true",
                 "--init", str(first / "checkpoint.pt")]) == 0
    after = torch.load(work3 / "state.pt", weights_only=False)["model"]
    assert torch.allclose(before[stem].float(), after[stem].float(), atol=1e-3)
    head = [k for k in before if "_conv_head" in k][0]
    assert not torch.allclose(before[head].float(), after[head].float(), atol=1e-3)
    assert sorted(p.name for p in work3.glob("weights-*.pt")) == ["weights-00002.pt"]
