"""Which shot of a moment to keep: the sharpest, best exposed, largest.

For a group of similar shots (a burst, a bracket, re-takes) the user keeps one; this suggests
it. Each photo gets a few numbers measured on its luminance at a fixed size (so a large and a
small copy of one shot compare fairly):
- sharpness: the gradient at the photo's strongest edges (99.5th percentile, after a light
  blur): a blurred shot loses it, while sensor noise, which raises every gradient a little,
  barely moves it;
- clipped: the share of pixels at black or white (lost highlights and shadows);
- exposure: how far the mean luminance is from mid-grey;
- noise: the sensor (or added) noise level, estimated from the Laplacian's median absolute
  value (Immerkaer's estimator, robust to edges);
- colour: how colourful the photo is (a grey copy of a colour shot lost something);
- pixels: the photo's full resolution.
`suggest` ranks a group by one score built from them; the weights are measured in
bench/moment_rules.py (a degraded copy must never be suggested over its original shot).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIDE = 384              # luminance size the measures are taken at
CLIP_LOW, CLIP_HIGH = 3, 252
W_CLIPPED = 6.0         # one "log-sharpness" unit per 1/6 of the picture clipped
W_EXPOSURE = 1.5
W_PIXELS = 0.35         # per factor e of resolution
W_NOISE = 0.08          # per grey level of noise above the group's quietest photo
W_GREY = 1.0            # a grey photo in a group with colour photos


@dataclass(frozen=True)
class Quality:
    sharpness: float
    clipped: float
    exposure: float
    pixels: int
    noise: float = 0.0
    colour: float = 0.0

    def as_dict(self) -> dict:
        return {"sharpness": round(self.sharpness, 2), "clipped": round(self.clipped, 4),
                "exposure": round(self.exposure, 3), "pixels": self.pixels,
                "noise": round(self.noise, 2), "colour": round(self.colour, 2)}


def measure(image, pixels: int | None = None) -> Quality:
    """The quality numbers of a PIL image (any mode); pixels = the full resolution if the
    image was decoded smaller."""
    import cv2
    full = pixels or image.size[0] * image.size[1]
    im = image.convert("RGB")
    if max(im.size) > SIDE:
        im = im.copy()
        im.thumbnail((SIDE, SIDE))
    rgb = np.asarray(im, dtype=np.float32)
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colour = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    y = np.asarray(im.convert("L"), dtype=np.float32)
    noise = float(np.median(np.abs(cv2.Laplacian(y, cv2.CV_32F)))) * 1.4826 / 6.0
    smooth = cv2.GaussianBlur(y, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    sharp = float(np.percentile(np.hypot(gx, gy), 99.5))
    clipped = float(np.mean((y <= CLIP_LOW) | (y >= CLIP_HIGH)))
    exposure = abs(float(y.mean()) - 118.0) / 118.0
    return Quality(sharp, clipped, exposure, int(full), noise, colour)


def score(q: Quality, max_pixels: int, min_noise: float = 0.0, max_colour: float = 0.0) -> float:
    grey = max_colour > 10.0 and q.colour < 3.0
    return (math.log(q.sharpness + 1.0) - W_CLIPPED * q.clipped - W_EXPOSURE * q.exposure
            + W_PIXELS * math.log(max(q.pixels, 1) / max(max_pixels, 1))
            - W_NOISE * max(0.0, q.noise - min_noise) - W_GREY * grey)


def suggest(qualities: list[Quality]) -> int:
    """Index of the shot to keep (the first of equals)."""
    if not qualities:
        raise ValueError("no photos")
    top = max(q.pixels for q in qualities)
    quiet = min(q.noise for q in qualities)
    colour = max(q.colour for q in qualities)
    scores = [score(q, top, quiet, colour) for q in qualities]
    return int(np.argmax(scores))
