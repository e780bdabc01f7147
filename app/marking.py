"""Marks across the groups shown, handed to `lookalike.core.actions` (no Qt here).

The window keeps the marked paths in a set; these helpers find the groups those paths are in
at the current threshold, so the engine's guards (last copy on disk, protected folders,
changed files) judge the groups the user is looking at.
"""
from __future__ import annotations

import os

import numpy as np

from lookalike.core import actions

DESCRIBE_STEP = 500


def described(lib, arrays, indices):
    """Members of the groups at `indices` (chunked, so 10k groups stay cheap on memory)."""
    out = []
    indices = list(indices)
    for lo in range(0, len(indices), DESCRIBE_STEP):
        out += lib.describe_groups([arrays.group(int(i)) for i in indices[lo:lo + DESCRIBE_STEP]], presorted=True)
    return out


def mark_all(lib, arrays, rule: str) -> set[str]:
    """Apply a rule to every group shown: all but the one it keeps, never a protected file."""
    protected = lib.catalog.protected()
    marked: set[str] = set()
    for members in described(lib, arrays, range(len(arrays))):
        marked |= actions.mark_by_rule(members, rule, protected)
    return marked


def groups_of_marks(lib, arrays, marks):
    """(described groups holding marked photos, marked paths outside every group shown)."""
    ids = {}
    for p in marks:
        row = lib.catalog.file_by_path(p)
        if row is not None:
            ids[row.id] = p
    if not len(arrays) or not ids:
        return [], set(marks)
    hit = np.isin(arrays.ids, np.fromiter(ids, np.int64, len(ids)))
    group_of = np.repeat(np.arange(len(arrays)), arrays.sizes())
    groups = described(lib, arrays, np.unique(group_of[hit]))
    inside = {m.path for g in groups for m in g}
    return groups, {p for p in marks if p not in inside}


def plan(lib, arrays, marks) -> actions.Plan:
    """The engine's removal plan for the marks; marks outside the groups shown are refused."""
    groups, outside = groups_of_marks(lib, arrays, marks)
    p = actions.plan_removal(lib, set(marks) - outside, groups)
    p.refused += [(path, "not in any group at this threshold") for path in sorted(outside)]
    return p


def refusals(p: actions.Plan) -> str:
    if not p.refused:
        return ""
    lines = [f"{os.path.basename(path)}: {why}" for path, why in p.refused]
    return f"{len(p.refused)} marked photos stay:\n" + "\n".join(lines)
