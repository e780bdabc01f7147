"""Run a model bundle with onnxruntime: batches of pictures in, unit vectors out."""
from __future__ import annotations

import logging
import os

import numpy as np

from .bundle import Bundle, BundleError, model_input

log = logging.getLogger(__name__)


class Embedder:
    """Opens the ONNX session on first use (nothing heavy at import or construction)."""

    def __init__(self, bundle: Bundle, threads: int | None = None):
        self.bundle = bundle
        # one core left to the decode threads that feed it: on 2 cores, a second inference thread
        # only spins against them (bench-dev scan: 20.2 s CPU with 2 threads, 18.4 s with 1)
        self.threads = threads or max(1, min(4, (os.cpu_count() or 1) - 1))
        self._session = None
        self._input_name = None

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                self._session = ort.InferenceSession(str(self.bundle.onnx_path), sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise BundleError(f"model {self.bundle.onnx_path} cannot be loaded "
                                  f"(corrupt or not an ONNX model): {str(exc).splitlines()[0]}") from None
            self._input_name = self._session.get_inputs()[0].name
        return self._session

    def embed_arrays(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, 3, H, W] -> float32 [N, dim], each row of unit length. A batch of
        several views per picture, [N, V, 3, H, W] (`bundle.model_input`), gives each picture
        the mean of its views' unit vectors, of unit length again."""
        return self.embed_both(batch)[0]

    def embed_both(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(copy vectors, scene vectors) of a batch from one run of the model: the scene
        vector (model.json `input.scene_views`, for the similar tier) is the mean of its views'
        unit vectors, of unit length; None when the model has none. A batch of one view per
        picture ([N, 3, H, W], not `bundle.model_input`'s stack) gives that view's vector for both."""
        spec = self.bundle.input
        dim = self.bundle.embedding_dim
        if len(batch) == 0:
            empty = np.zeros((0, dim), np.float32)
            return empty, (empty if spec.scene_views else None)
        batch = np.asarray(batch)
        n_views = batch.shape[1] if batch.ndim == 5 else 1
        flat = batch.reshape(-1, *batch.shape[-3:])
        out = self.session.run(None, {self._input_name: np.ascontiguousarray(flat, dtype=np.float32)})[0]
        out = np.asarray(out, dtype=np.float32).reshape(len(flat), -1)
        if out.shape[1] != dim:
            raise BundleError(f"model {self.bundle.onnx_path} returns {out.shape[1]} numbers per photo, "
                              f"its model.json says {dim}")
        out = _unit(out).reshape(len(batch), n_views, dim)
        if n_views == 1:
            return out[:, 0], (out[:, 0] if spec.scene_views else None)
        names = spec.all_views if n_views == len(spec.all_views) else spec.views
        if n_views != len(names):
            raise ValueError(f"{n_views} views per picture, the model takes {len(names)}")

        def mean(views):
            return _unit(out[:, [names.index(v) for v in views]].mean(axis=1))
        return mean(spec.views), (mean(spec.scene_views) if spec.scene_views else None)

    def embed_images(self, images) -> np.ndarray:
        return self.embed_arrays(np.stack([model_input(im, self.bundle.input) for im in images]))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
