"""The suggested keeper of a group of similar shots: the sharp, well exposed, full-size one."""
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from lookalike.core import keeper

from ..conftest import shapes


def scene(size=(800, 600)):
    im = np.asarray(shapes(3, size, n=40, max_size=(160, 120)), np.float32)
    rng = np.random.default_rng(0)
    im = im + rng.normal(0, 3, im.shape)          # a little sensor grain, as a real shot has
    return Image.fromarray(np.clip(im, 0, 255).astype(np.uint8))


def measured(images):
    return [keeper.measure(im) for im in images]


def test_sharp_shot_is_kept_over_a_blurred_one():
    sharp = scene()
    blurred = sharp.filter(ImageFilter.GaussianBlur(3))
    assert keeper.suggest(measured([blurred, sharp])) == 1
    assert keeper.suggest(measured([sharp, blurred])) == 0


def test_well_exposed_shot_is_kept_over_a_blown_out_one():
    good = scene()
    blown = ImageEnhance.Brightness(good).enhance(2.2)     # most of the frame clipped to white
    assert keeper.measure(blown).clipped > keeper.measure(good).clipped
    assert keeper.suggest(measured([blown, good])) == 1


def test_full_size_shot_is_kept_over_a_small_copy():
    big = scene((1600, 1200))
    small = big.resize((400, 300), Image.LANCZOS)
    qs = [keeper.measure(small), keeper.measure(big)]
    assert qs[1].pixels == 1600 * 1200
    assert keeper.suggest(qs) == 1


def test_noise_does_not_pass_for_detail():
    clean = scene()
    a = np.asarray(clean, np.float32)
    noisy = Image.fromarray(np.clip(a + np.random.default_rng(1).normal(0, 14, a.shape), 0, 255).astype(np.uint8))
    assert keeper.suggest(measured([noisy, clean])) == 1
