"""The embedding-alone benchmark (`python -m lookalike.trainer.benchmark`) and the copy recipe's
kit validation read a kit folder through the engine's own decoding: every readable image counts,
an unreadable one is skipped."""
import json

import numpy as np

from tests.conftest import photo


def kit_folder(tmp_path):
    kit = tmp_path / "kit"
    (kit / "images").mkdir(parents=True)
    photo(1).save(kit / "images" / "a.jpg", quality=92)
    photo(1).resize((160, 120)).save(kit / "images" / "a-small.jpg", quality=80)
    photo(2).save(kit / "images" / "b.jpg", quality=92)
    (kit / "images" / "broken.jpg").write_bytes(b"not a photo")
    (kit / "truth.json").write_text(json.dumps({"groups": [["a.jpg", "a-small.jpg"]], "singletons": ["b.jpg"]}))
    return kit


def test_the_benchmark_embeds_every_readable_image(tmp_path, tiny_bundle, capsys):
    from lookalike.trainer.benchmark import embed_folder
    kit = kit_folder(tmp_path)
    names, vecs, _ = embed_folder(tiny_bundle, kit / "images")
    assert names == ["a-small.jpg", "a.jpg", "b.jpg"]
    assert vecs.shape[0] == 3 and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]           # the copy is nearer than the other photo
    assert "skip broken.jpg" in capsys.readouterr().err
