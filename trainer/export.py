"""ONNX export with a PyTorch parity check, and atomic bundle writing."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

OPSET = 18
PARITY_LIMIT = 1e-4


def export_onnx(model, path, size, opset: int = OPSET):
    """Write `model` (eval mode) to `path`: input "input" [N,3,H,W] (N dynamic) ->
    output "embedding" [N, dim], L2-normalised inside the graph; one self-contained file."""
    model = model.eval()
    h, w = size
    example = torch.zeros(2, 3, h, w)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        batch = torch.export.Dim("batch", min=1, max=4096)
        prog = torch.onnx.export(model, (example,), None, input_names=["input"],
                                 output_names=["embedding"], opset_version=opset, dynamo=True,
                                 dynamic_shapes=({0: batch},), external_data=False,
                                 optimize=True, verbose=False, report=False)
        prog.save(str(path), external_data=False)
    import onnx
    m = onnx.load(str(path))
    onnx.checker.check_model(m)
    return path


def parity(model, onnx_path, size, n: int = 4, seed: int = 0) -> float:
    """Max |torch - onnxruntime| over a batch of n random-but-image-like inputs (and batch 1)."""
    import onnxruntime as ort
    h, w = size
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 3, h, w, generator=g) - 0.45) / 0.226
    model = model.eval()
    with torch.no_grad():
        ref = model(x).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    out = sess.run(["embedding"], {"input": x.numpy()})[0]
    out1 = sess.run(["embedding"], {"input": x[:1].numpy()})[0]
    diff = max(float(np.abs(out - ref).max()), float(np.abs(out1 - ref[:1]).max()))
    return diff


def write_bundle(out_dir, files: dict, manifest: dict):
    """Atomically (re)place `out_dir` with a folder holding model.json and the given files.

    `files` maps a name in the bundle to a source path (copied) or bytes (written).
    The bundle is assembled in a temporary sibling folder and renamed into place, so a
    reader sees either the old bundle or the complete new one.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for name, src in files.items():
            dst = tmp / name
            if isinstance(src, (bytes, bytearray)):
                dst.write_bytes(src)
            else:
                shutil.copy2(src, dst)
        (tmp / "model.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def manifest(name, version, spec, dim, preprocess, thresholds, metrics, trained_on, matches="copies",
             scene_views=()):
    """model.json; `scene_views`: the views whose mean is the engine's scene vector (none: ())."""
    inp = {"size": list(spec.size), "mean": list(spec.mean), "std": list(spec.std), "layout": "NCHW", "color": "RGB"}
    if scene_views:
        inp["scene_views"] = list(scene_views)
    return {
        "name": name, "version": version, "matches": matches,
        "input": inp,
        "embedding_dim": int(dim), "normalized": True, "preprocess": preprocess,
        "thresholds": {k: round(float(v), 2) for k, v in thresholds.items()},
        "metrics": metrics, "trained_on": trained_on,
    }
