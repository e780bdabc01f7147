"""Several views of one photo (model.json "input" "views"): the embedding is the mean of the
model's unit vectors over the photo as it is and its histogram-equalised luminance."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from lookalike.core.bundle import BundleError, load_bundle, model_input, to_input
from lookalike.core.embed import Embedder
from lookalike.core.library import Library

from ..conftest import photo


def with_views(tiny_bundle, tmp_path, views, name="viewed"):
    out = tmp_path / name
    shutil.copytree(tiny_bundle, out)
    meta = json.loads((out / "model.json").read_text())
    meta["input"]["views"] = views
    (out / "model.json").write_text(json.dumps(meta))
    return out


def exposed(im, gain):
    """The same shot exposed differently: `gain` times the light, clipped at white."""
    return Image.fromarray(np.clip(np.asarray(im, np.float32) * gain, 0, 255).round().astype(np.uint8))


def toned(im, gamma):
    """The same shot through another tone curve."""
    return Image.fromarray((255 * (np.asarray(im, np.float32) / 255) ** gamma).round().astype(np.uint8))


def test_the_equalised_view_does_not_see_the_tones_of_a_shot(tiny_bundle):
    spec = load_bundle(tiny_bundle).input
    shot = photo(3, (320, 240))
    for other in (toned(shot, 0.4), toned(shot, 2.5), exposed(shot, 0.4)):
        as_is = np.abs(to_input(shot, spec) - to_input(other, spec)).mean()
        flat = np.abs(to_input(shot, spec, "equalized") - to_input(other, spec, "equalized")).mean()
        assert flat < as_is / 4


def test_an_equalised_view_brings_a_brighter_exposure_of_a_shot_closer(tiny_bundle, tmp_path):
    plain = load_bundle(tiny_bundle)
    viewed = load_bundle(with_views(tiny_bundle, tmp_path, ["as-is", "equalized"]))
    shot = photo(3, (320, 240))
    scores = {}
    for b in (plain, viewed):
        v = Embedder(b).embed_images([shot, exposed(shot, 2.5), photo(8, (320, 240))])
        scores[b.input.views] = (float(v[0] @ v[1]) * 100, float(v[0] @ v[2]) * 100)
    (p_same, _), (v_same, v_other) = scores[("as-is",)], scores[("as-is", "equalized")]
    assert v_same > p_same + 1.0            # the brighter exposure (clipped highlights) comes closer
    assert v_same > v_other + 50.0          # and stays far closer than another picture


def test_the_embedding_of_several_views_is_the_mean_of_their_unit_vectors(tiny_bundle, tmp_path):
    b = load_bundle(with_views(tiny_bundle, tmp_path, ["as-is", "equalized"]))
    im = photo(5, (300, 200))
    x = model_input(im, b.input)
    assert x.shape == (2, 3, *b.input.size)
    assert np.array_equal(x[0], to_input(im, b.input)) and np.array_equal(x[1], to_input(im, b.input, "equalized"))
    e = Embedder(b)
    one = e.embed_arrays(x[None])[0]
    parts = e.embed_arrays(x)                       # each view alone, unit length
    mean = parts.mean(axis=0)
    assert np.allclose(one, mean / np.linalg.norm(mean), atol=1e-6)
    assert np.isclose(np.linalg.norm(one), 1.0)


@pytest.mark.parametrize("views", [["as-is", "sepia"], [], ["as-is", "as-is"]])
def test_a_bundle_with_unknown_or_repeated_views_is_refused(tiny_bundle, tmp_path, views):
    with pytest.raises(BundleError, match="views"):
        load_bundle(with_views(tiny_bundle, tmp_path, views))


def test_a_model_with_views_keeps_its_own_vectors(tiny_bundle, tmp_path):
    """The same model.onnx shown two views embeds differently: a library must not reuse the
    vectors of the one-view bundle for it (nor the other way round)."""
    album = tmp_path / "album"
    album.mkdir()
    for i in range(3):
        photo(i, (200, 150)).save(album / f"{i}.jpg", quality=90)
    viewed = with_views(tiny_bundle, tmp_path, ["as-is", "equalized"])
    with Library(tmp_path / "lib", write=True) as lib:
        plain, both = lib.bundle(tiny_bundle), lib.bundle(viewed)
        assert lib.model_key(plain) != lib.model_key(both)
        assert lib.scan([album], bundle=plain).embedded == 3
        assert lib.scan([album], bundle=both).embedded == 3
        assert lib.scan([album], bundle=plain).embedded == 0
        assert os.path.basename(str(both.path)) == "viewed"


# -- the scene vector (model.json "input" "scene_views"): the similar tier's second vector ------

def with_scene(tiny_bundle, tmp_path, thresholds, matches="copies", name="scened"):
    out = tmp_path / name
    shutil.copytree(tiny_bundle, out)
    meta = json.loads((out / "model.json").read_text())
    meta["input"]["scene_views"] = ["as-is", "equalized"]
    meta["thresholds"] = {"duplicate": thresholds[0], "similar": thresholds[1]}
    meta["matches"] = matches
    (out / "model.json").write_text(json.dumps(meta))
    return out


def test_the_scene_vector_comes_from_the_same_run_and_leaves_the_copy_vector_alone(tiny_bundle, tmp_path):
    plain = load_bundle(tiny_bundle)
    scened = load_bundle(with_scene(tiny_bundle, tmp_path, (97.0, 90.0)))
    viewed = load_bundle(with_views(tiny_bundle, tmp_path, ["as-is", "equalized"]))
    shots = [photo(3, (320, 240)), exposed(photo(3, (320, 240)), 2.5), photo(8, (300, 200))]
    x = np.stack([model_input(im, scened.input) for im in shots])
    assert x.shape == (3, 2, 3, *scened.input.size)         # one batch: as-is and equalised
    copy, scene = Embedder(scened).embed_both(x)
    assert np.allclose(copy, Embedder(plain).embed_images(shots), atol=1e-6)     # the copy vector as before
    assert np.allclose(scene, Embedder(viewed).embed_images(shots), atol=1e-6)   # the two views' mean
    assert Embedder(plain).embed_both(np.stack([model_input(im, plain.input) for im in shots]))[1] is None


def test_a_bundle_with_unknown_scene_views_is_refused(tiny_bundle, tmp_path):
    out = with_scene(tiny_bundle, tmp_path, (97.0, 90.0))
    meta = json.loads((out / "model.json").read_text())
    meta["input"]["scene_views"] = ["as-is", "negative"]
    (out / "model.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="scene_views"):
        load_bundle(out)


def scene_album(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    shot = photo(3, (320, 240))
    shot.save(album / "shot.png")
    exposed(shot, 2.5).save(album / "brighter.png")      # another exposure, highlights clipped
    photo(8, (320, 240)).save(album / "other.png")
    return album


def pair_scores(lib, bundle):
    names = {r.id: os.path.basename(r.path) for r in lib.catalog.files()}
    a, b, s = lib.grouper(bundle).pairs()
    return {frozenset((names[int(x)], names[int(y)])): float(v) for x, y, v in zip(a, b, s)}


def test_another_exposure_is_similar_through_the_scene_vector_but_never_a_duplicate(tiny_bundle, tmp_path):
    """The tiny model scores the brighter exposure 90.0 by its copy vector and 92.4 by its scene
    vector (as-is + equalised): with the similar mark at 91 only the scene vector makes the two
    similar; with the duplicate mark at 92 too the scene score stays below the midpoint of the
    two marks (`grouping.scene_scale`), never a duplicate."""
    album = scene_album(tmp_path)
    pair = frozenset(("shot.png", "brighter.png"))
    seen = {}
    for dup, sim in ((97.0, 91.0), (92.0, 91.0)):
        plain = with_scene(tiny_bundle, tmp_path, (dup, sim), "subjects", name=f"plain-{dup}")
        meta = json.loads((plain / "model.json").read_text())
        del meta["input"]["scene_views"]
        (plain / "model.json").write_text(json.dumps(meta))
        scened = with_scene(tiny_bundle, tmp_path, (dup, sim), "subjects", name=f"scened-{dup}")
        for name, folder in (("plain", plain), ("scened", scened)):
            with Library(tmp_path / f"lib-{name}-{dup}", write=True) as lib:
                b = lib.bundle(folder)
                lib.scan([album], bundle=b)
                scores = pair_scores(lib, b)
                seen[name, dup] = scores.get(pair, 0.0)
                compared = lib.compare(album / "shot.png", album / "brighter.png", b)
                assert compared == pytest.approx(seen[name, dup], abs=0.01)     # one pair, one score
                hits = dict(lib.similar(album / "shot.png", b))
                assert hits[str(album / "brighter.png")] == pytest.approx(seen[name, dup], abs=0.01)
                res = lib.results(b, threshold=sim)
                together = any({"shot.png", "brighter.png"} <= {os.path.basename(m.path) for m in g}
                               for g in lib.describe_groups(list(res.groups)))
                assert together == (seen[name, dup] >= sim)
    assert seen["plain", 97.0] < 91.0 <= seen["scened", 97.0] < (91.0 + 97.0) / 2   # similar only through the scene vector
    assert 91.0 <= seen["scened", 92.0] < (91.0 + 92.0) / 2                     # never a duplicate through it
    assert seen["plain", 92.0] < 91.0


def test_the_scene_vector_changes_no_duplicate_and_a_library_gains_it_on_the_next_scan(tiny_bundle, tmp_path):
    """The duplicate tier (copy vector + geometric check) is the same with and without the scene
    vector; a library scanned with the model before it had one embeds the scene vectors once."""
    from ..conftest import detailed_photo
    from .test_verify import copies_album
    album = copies_album(tmp_path, detailed_photo(4))
    exposed(detailed_photo(4), 1.8).save(album / "d.jpg", quality=90)
    photo(9, (640, 480)).save(album / "e.jpg", quality=90)
    scened = with_scene(tiny_bundle, tmp_path, (97.0, 90.0))
    with Library(tmp_path / "lib", write=True) as lib:
        plain, both = lib.bundle(tiny_bundle), lib.bundle(scened)
        assert lib.model_key(plain) == lib.model_key(both)          # the copy vectors are shared
        assert lib.scan([album], bundle=plain).embedded == 5
        before = pair_scores(lib, plain)
        assert lib.scan([album], bundle=both).embedded == 5         # the scene vectors, once
        assert lib.scan([album], bundle=both).embedded == 0
        after = pair_scores(lib, both)
    dup = 97.0
    assert {p for p, s in before.items() if s >= dup} == {p for p, s in after.items() if s >= dup}
    assert {frozenset(("a.jpg", "b.jpg")), frozenset(("a.jpg", "c.jpg"))} <= {p for p, s in after.items() if s >= dup}
    for p, s in after.items():
        assert s == (before[p] if before.get(p, 0.0) >= dup else pytest.approx(max(s, before.get(p, 0.0))))


@pytest.mark.parametrize("seed", range(5))
def test_merged_scores_match_a_pair_by_pair_merge(seed):
    """`merge_scene` on unordered edge lists with repeats (the slow path) and on stored, ordered
    ones (the fast path) gives every pair its copy score at or above the duplicate mark, below it
    the higher of the copy score and the scene score, whose part above the similar mark is
    squeezed under the midpoint of the two marks."""
    from lookalike.core.grouping import canonical_edges, merge_scene
    rng = np.random.default_rng(seed)
    a, b, s = rng.integers(0, 40, 300), rng.integers(0, 40, 300), rng.uniform(40, 100, 300).astype(np.float32)
    sa, sb, ss = rng.integers(0, 40, 300), rng.integers(0, 40, 300), rng.uniform(40, 100, 300).astype(np.float32)
    copy, scene = {}, {}
    for edges, best in (((a, b, s), copy), ((sa, sb, ss), scene)):
        for x, y, v in zip(*edges):
            if x != y:
                k = (min(x, y), max(x, y))
                best[k] = max(best.get(k, 0.0), float(v))
    dup, sim = 87.1, 63.8

    def scaled(v):
        return v if v < sim else sim + (v - sim) * ((dup + sim) / 2 - sim) / (100 - sim)
    want = {k: copy.get(k, 0.0) if copy.get(k, 0.0) >= dup else max(copy.get(k, 0.0), scaled(scene.get(k, 0.0)))
            for k in set(copy) | set(scene)}
    assert any(scene.get(k, 0.0) >= dup > want[k] for k in want)      # scene scores above the mark are held
    for args in ((a, b, s, sa, sb, ss), (*canonical_edges(a, b, s), *canonical_edges(sa, sb, ss))):
        x, y, v = merge_scene(*args, dup, sim)
        got = {(int(p), int(q)): float(w) for p, q, w in zip(x, y, v)}
        assert got.keys() == want.keys()
        assert all(got[k] == pytest.approx(want[k], abs=1e-4) for k in got)
        assert (x < y).all() and (np.diff(x * (1 << 32) + y) > 0).all()
