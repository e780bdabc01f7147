"""Feature cache for labelled fine-tuning.

Every training photo is rendered as a fixed pool of copies (the unedited photo plus edited
copies) and run once through the frozen first stages of the network; the outputs are kept
in RAM (float16). A training step then samples P subjects x K cached copies and runs only
the trainable rest, which costs a small fraction of a full forward and backward pass.

The pool is built in rounds (round 0: every photo unedited; round r: one more edited copy of
every photo), so it can stop at a deadline with every photo equally represented.
"""
from __future__ import annotations

import random
import time

import numpy as np
import torch

from .data import SourceCache, edit


def render_inputs(cache: SourceCache, items, spec, augment: dict, rng: random.Random,
                  edited: bool) -> np.ndarray:
    """Model inputs [n, 3, H, W] of cache photos `items`, each edited once or left as is."""
    from lookalike.core.bundle import to_input
    work_side = 2 * min(spec.size)
    out = []
    for i in items:
        im = cache.images[i]
        out.append(to_input(edit(im, rng, augment, work_side) if edited else im, spec))
    return np.stack(out)


@torch.no_grad()
def frozen(model, x: np.ndarray, stages: int, batch: int = 32) -> torch.Tensor:
    """float16 outputs of the first `stages` stages for inputs x (model in eval mode)."""
    model.eval()
    return torch.cat([model.prefix(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])),
                                            stages).half() for i in range(0, len(x), batch)])


class FeaturePool:
    """Cached frozen features of copies of the training photos, and P x K batches from them."""

    def __init__(self, groups: dict[str, tuple[int, ...]], seed: int):
        self.names = sorted(groups)
        self.groups = groups
        self.rows: dict[int, list[int]] = {}          # cache photo index -> rows of `feats`
        self.chunks: list[torch.Tensor] = []
        self.n = 0
        self.rounds = 0
        self.rng = random.Random(seed)

    @property
    def photos(self) -> list[int]:
        return sorted(i for n in self.names for i in self.groups[n])

    def add_round(self, feats: torch.Tensor, photos: list[int]):
        for k, p in enumerate(photos):
            self.rows.setdefault(p, []).append(self.n + k)
        self.chunks.append(feats)
        self.n += len(photos)
        self.rounds += 1

    def build(self, model, cache, spec, augment, stages, *, deadline=None, max_copies=8,
              min_copies=1, progress=None, stopped=lambda: False):
        """Round 0 (unedited) and up to `max_copies` edited rounds, stopping before a round
        that would end after `deadline` (at least `min_copies` edited rounds)."""
        photos = self.photos
        rng = random.Random(self.rng.getrandbits(32))
        took = None
        for r in range(max_copies + 1):
            if r > min_copies and (stopped() or (deadline is not None and took is not None
                                                 and time.time() + took > deadline)):
                break
            t = time.time()
            feats = []
            for i in range(0, len(photos), 32):
                if r > 0 and stopped():          # a stop request: keep what is cached
                    break
                part = photos[i:i + 32]
                feats.append(frozen(model, render_inputs(cache, part, spec, augment, rng, r > 0), stages))
                if progress:
                    progress(r, i + len(part), len(photos))
            if feats:
                done = torch.cat(feats)
                self.add_round(done, photos[:len(done)])
            took = time.time() - t
            if r > 0 and stopped():
                break
        self.feats = torch.cat(self.chunks)
        self.chunks = [self.feats]
        return self

    def batch(self, P: int, K: int):
        """(features [P*K, ...] float32, labels [P*K]): P subjects, K copies each, from
        different photos of the subject where it has enough."""
        rng = self.rng
        names = rng.sample(self.names, min(P, len(self.names)))
        rows, labels = [], []
        for li, name in enumerate(names):
            members = list(self.groups[name])
            pick = rng.sample(members, K) if len(members) >= K else [rng.choice(members) for _ in range(K)]
            for p in pick:
                rows.append(rng.choice(self.rows[p]))
                labels.append(li)
        return self.feats[rows].float(), torch.tensor(labels)
