"""One writer: readers never write the library's files; index saves never trip over each other."""
import os
import threading

import numpy as np

from lookalike.app.cli import main
from lookalike.core.index import VectorIndex


def library_files(lib_dir):
    return {f: os.stat(os.path.join(lib_dir, f)).st_mtime_ns for f in os.listdir(lib_dir)
            if not f.startswith("catalog.sqlite")}


def test_similar_on_a_read_only_library_writes_no_index(tmp_path, make_photo, tiny_bundle, capsys):
    root = tmp_path / "p"
    root.mkdir()
    for i in range(3):
        make_photo(40 + i).save(root / f"{i}.jpg")
    assert main(["-q", "--model", tiny_bundle, "scan", str(root)]) == 0
    lib_dir = os.environ["LOOKALIKE_LIBRARY"]
    for f in os.listdir(lib_dir):
        if f.startswith("index-"):
            os.remove(os.path.join(lib_dir, f))              # a stale cache the reader must rebuild in memory
    before = library_files(lib_dir)
    capsys.readouterr()
    assert main(["similar", str(root / "0.jpg"), "-k", "1"]) == 0
    assert library_files(lib_dir) == before


def test_two_savers_at_once_never_fail_and_leave_a_loadable_index(tmp_path):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    labels = np.arange(300, dtype=np.int64)
    errors = []

    def saver(n):
        idx = VectorIndex(tmp_path / "index.hnsw", 16)
        idx.sync(labels[:n], vecs[:n])
        try:
            for _ in range(15):
                idx.save()
        except Exception as exc:          # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=saver, args=(n,)) for n in (200, 300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    again = VectorIndex(tmp_path / "index.hnsw", 16)
    again.sync(labels, vecs)                     # loads (or, after a mixed save, rebuilds) without error
    assert len(again.knn(vecs[:1], 1)[0][0]) == 1
