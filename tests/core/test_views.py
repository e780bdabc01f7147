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
