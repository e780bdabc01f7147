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

from dataclasses import dataclass

import numpy as np

SIDE = 384              # luminance size the measures are taken at
SCAN_SIDE = 256         # ... in the scan, on the picture decoded for the embedding, which is decoded
SCAN_DECODE = 192       # at least this large on its short side (JPEG draft mode), so that every
                        # photo is measured at the same size (a 4:3 photo: 256 pixels or more long)
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


def measure(image, pixels: int | None = None, side: int = SIDE) -> Quality:
    """The quality numbers of a PIL image (any mode), reduced to `side` pixels on the long
    side; pixels = the full resolution if the image was decoded smaller."""
    import cv2
    full = pixels or image.size[0] * image.size[1]
    from PIL import Image
    im = image if image.mode == "RGB" else image.convert("RGB")
    w, h = im.size
    if max(w, h) > side:          # area average (box) first: the array is made of the small image
        f = side / max(w, h)
        im = im.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BOX, reducing_gap=2.0)
    rgb8 = np.asarray(im)
    rgb = rgb8.astype(np.float32)
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colour = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    y = cv2.cvtColor(rgb8, cv2.COLOR_RGB2GRAY).astype(np.float32)
    noise = float(np.median(np.abs(cv2.Laplacian(y, cv2.CV_32F)))) * 1.4826 / 6.0
    smooth = cv2.GaussianBlur(y, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    sharp = float(np.percentile(np.hypot(gx, gy), 99.5))
    clipped = float(np.mean((y <= CLIP_LOW) | (y >= CLIP_HIGH)))
    exposure = abs(float(y.mean()) - 118.0) / 118.0
    return Quality(sharp, clipped, exposure, int(full), noise, colour)


def group_scores(sharpness, clipped, exposure, pixels, noise, colour, group_of) -> np.ndarray:
    """`score` of every photo of many groups at once (arrays, one entry per photo; group_of:
    each photo's group number, photos of one group next to each other), each against its own
    group's largest, quietest and most colourful photo."""
    g = np.asarray(group_of, np.int64)
    if len(g) == 0:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    per = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(g)]))
    pix = np.maximum(np.asarray(pixels, np.float64), 1.0)
    noise, colour = np.asarray(noise, np.float64), np.asarray(colour, np.float64)
    top = np.maximum.reduceat(pix, starts)[per]
    quiet = np.minimum.reduceat(noise, starts)[per]
    grey = (np.maximum.reduceat(colour, starts)[per] > 10.0) & (colour < 3.0)
    return (np.log(np.asarray(sharpness, np.float64) + 1.0) - W_CLIPPED * np.asarray(clipped, np.float64)
            - W_EXPOSURE * np.asarray(exposure, np.float64) + W_PIXELS * np.log(pix / top)
            - W_NOISE * np.maximum(0.0, noise - quiet) - W_GREY * grey)


def suggest(qualities: list[Quality]) -> int:
    """Index of the shot to keep (the first of equals)."""
    if not qualities:
        raise ValueError("no photos")
    cols = [[getattr(q, f) for q in qualities] for f in ("sharpness", "clipped", "exposure", "pixels", "noise", "colour")]
    return int(np.argmax(group_scores(*cols, np.zeros(len(qualities), np.int64))))
