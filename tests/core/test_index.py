"""The HNSW index cache: a file written by the other hnswlib build is rebuilt, not misread."""
import json

import numpy as np

from lookalike.core.index import VectorIndex, index_format


def _unit(n, dim, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_an_index_saved_by_the_other_hnswlib_is_rebuilt_and_answers_correctly(tmp_path):
    x, labels = _unit(300, 32), np.arange(100, 400)
    idx = VectorIndex(tmp_path / "i.bin", 32)
    idx.sync(labels, x)
    idx.save()
    meta = json.loads(idx.meta_path.read_text())
    assert meta["format"] == index_format()
    meta["format"] = "hnswlib" if index_format() == "chroma-hnswlib" else "chroma-hnswlib"
    idx.meta_path.write_text(json.dumps(meta))

    again = VectorIndex(tmp_path / "i.bin", 32)
    again.sync(labels, x)
    assert again.rebuilt
    found, sims = again.knn(x[:20], k=1)
    assert (found[:, 0] == labels[:20]).all() and np.allclose(sims[:, 0], 1.0, atol=1e-4)


def test_a_saved_index_of_the_same_build_is_loaded_without_a_rebuild(tmp_path):
    x, labels = _unit(200, 16, seed=1), np.arange(200)
    idx = VectorIndex(tmp_path / "i.bin", 16)
    idx.sync(labels, x)
    idx.save()
    again = VectorIndex(tmp_path / "i.bin", 16)
    assert not again.sync(labels, x) and not again.rebuilt
