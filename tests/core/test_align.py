"""Where two photos differ: the alignment lays a copy on its original, the outline finds a crop's
place, and the difference map is hot where a caption was added and cold elsewhere."""
import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from lookalike.core import align

from ..conftest import detailed_photo, with_caption

CAPTION = (80, 560, 560, 660)          # on the 960 x 720 original


@pytest.fixture(scope="module")
def original():
    return detailed_photo(1)


def _box_fraction(box, size=(960, 720)):
    return np.array([box[0] / size[0], box[1] / size[1], box[2] / size[0], box[3] / size[1]])


def test_the_heat_map_is_hot_at_a_caption_and_cold_elsewhere(original):
    copy = with_caption(original, CAPTION).resize((640, 480))      # captioned, then made smaller
    al, diff = align.compare_pictures(original, copy)
    assert al is not None and not al.mirrored
    np.testing.assert_allclose(al.footprint_in_a, [[0, 0], [1, 0], [1, 1], [0, 1]], atol=0.01)
    assert np.allclose(diff.hot_box(), _box_fraction(CAPTION), atol=0.03)
    h, w = diff.heat.shape
    x0, y0, x1, y1 = (_box_fraction(CAPTION) * [w, h, w, h]).astype(int)
    assert diff.heat[y0:y1, x0:x1].mean() > 0.9
    outside = np.ones_like(diff.valid)
    outside[y0 - 8:y1 + 8, x0 - 8:x1 + 8] = False
    assert np.percentile(diff.heat[outside], 99) < 0.3
    assert 0.05 < diff.changed < 0.12                 # the caption is ~7% of the picture


def test_a_mirrored_crop_is_outlined_where_it_lies_on_the_original(original):
    crop = ImageOps.mirror(original.crop((200, 100, 800, 550)))
    al, diff = align.compare_pictures(original, crop)
    assert al is not None and al.mirrored
    xs, ys = al.footprint_in_a[:, 0], al.footprint_in_a[:, 1]
    assert np.allclose([xs.min(), ys.min(), xs.max(), ys.max()], _box_fraction((200, 100, 800, 550)), atol=0.01)
    # the crop covers all of itself: the original's outline on it lies outside it
    assert al.footprint_in_b[:, 0].min() < -0.2 and al.footprint_in_b[:, 0].max() > 1.2
    assert diff.changed < 0.01                        # same pixels, once aligned


def test_recompression_shows_as_faint_heat_and_an_identical_copy_as_none(original):
    buf = io.BytesIO()
    original.save(buf, "JPEG", quality=15)
    buf.seek(0)
    _, heavy = align.compare_pictures(original, Image.open(buf).convert("RGB"))
    _, same = align.compare_pictures(original, original.copy())
    assert same.heat.max() == 0.0
    assert 0.01 < heavy.heat[heavy.valid].mean() < 0.2 and heavy.changed < 0.01


def test_a_brightness_edit_is_not_a_difference(original):
    brighter = Image.fromarray(np.clip(np.asarray(original, np.float32) * 0.8 + 40, 0, 255).astype(np.uint8))
    _, diff = align.compare_pictures(original, brighter)
    assert diff.changed < 0.01


def test_unrelated_photos_do_not_align(original):
    al, diff = align.compare_pictures(original, detailed_photo(2))
    assert al is None and diff is None
