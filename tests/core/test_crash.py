"""Crash safety: a real `lookalike scan` (and a real move) killed with SIGKILL at random points.

CI runs a reduced number of kills; `bench/crash.py` runs the full count
(LOOKALIKE_CRASH_KILLS=25).
"""
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

KILLS = int(os.environ.get("LOOKALIKE_CRASH_KILLS", "4"))


def cli(*args, lib, model):
    return [sys.executable, "-m", "lookalike.app.cli", "--library", str(lib), "--model", model, "-q", *args]


@pytest.fixture
def library_photos(tmp_path, make_photo):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(40):
        p = make_photo(200 + i, (240, 180))
        p.save(root / f"p{i:03d}.jpg", quality=92)
        if i % 3 == 0:
            p.resize((120, 90)).save(root / f"p{i:03d}_small.png")
    for i in range(120):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32, 3), np.uint8)).save(root / f"n{i:03d}.png")
    return root


def groups_of(lib, model):
    out = subprocess.run(cli("groups", "--json", "-", lib=lib, model=model), capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    return sorted(sorted(m["path"] for m in g["members"]) for g in doc["groups"])


def check_catalog(lib):
    db = sqlite3.connect(os.path.join(lib, "catalog.sqlite"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "vectors" not in tables:
            # killed before the schema's first commit: the schema is all or nothing
            assert not tables, tables
            return 0
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    finally:
        db.close()


def test_scan_killed_at_random_points_always_recovers(library_photos, tiny_bundle, tmp_path):
    ref_lib = tmp_path / "ref"
    t0 = time.monotonic()
    subprocess.run(cli("scan", str(library_photos), lib=ref_lib, model=tiny_bundle), check=True)
    duration = time.monotonic() - t0
    expected = groups_of(ref_lib, tiny_bundle)
    assert len(expected) >= 10

    lib = tmp_path / "lib"
    rng = random.Random(7)
    for k in range(KILLS):
        proc = subprocess.Popen(cli("scan", str(library_photos), lib=lib, model=tiny_bundle),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if os.path.exists(os.path.join(lib, "catalog.sqlite")):
            check_catalog(lib)
    r = subprocess.run(cli("scan", str(library_photos), lib=lib, model=tiny_bundle), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert check_catalog(lib) == 160 + 14
    assert groups_of(lib, tiny_bundle) == expected


def digest(path):
    with open(path, "rb") as fh:
        return hashlib.blake2b(fh.read(), digest_size=16).hexdigest()


CROSS_DEVICE = """
import errno, os, shutil, signal
_rename, _remove, _copy2 = os.rename, os.remove, shutil.copy2
calls = {{"copy": 0, "remove": 0}}
def _no_rename_across(src, dst, *a, **k):   # as if the destination were on another file system
    if os.fspath(src).startswith({photos!r}):
        raise OSError(errno.EXDEV, "Invalid cross-device link", src)
    return _rename(src, dst, *a, **k)
def _copy_then_maybe_die(src, dst, *a, **k):
    calls["copy"] += 1
    if {kill!r} == "mid-copy" and calls["copy"] == 3:      # half the bytes written, then killed
        with open(src, "rb") as i, open(dst, "wb") as o:
            o.write(i.read()[: os.path.getsize(src) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return _copy2(src, dst, *a, **k)
def _remove_or_die(path, *a, **k):
    calls["remove"] += 1
    if {kill!r} == "after-copy" and calls["remove"] == 3:  # the copy is whole, the source not yet removed
        os.kill(os.getpid(), signal.SIGKILL)
    return _remove(path, *a, **k)
os.rename, os.remove, shutil.copy2 = _no_rename_across, _remove_or_die, _copy_then_maybe_die
"""


@pytest.mark.parametrize("kill", ["random", "mid-copy", "after-copy"])
def test_move_killed_midway_never_loses_a_file(library_photos, tiny_bundle, tmp_path, kill):
    """A move killed at random times (same file system: rename) and, across file systems
    (copy + remove), killed in the middle of a copy and between a copy and its remove."""
    lib = tmp_path / "lib"
    subprocess.run(cli("scan", str(library_photos), lib=lib, model=tiny_bundle), check=True)
    before = {digest(os.path.join(library_photos, f)) for f in os.listdir(library_photos)}
    dest = tmp_path / "moved"
    script = (CROSS_DEVICE.format(photos=str(library_photos), kill=kill) if kill != "random" else "") + \
        textwrap.dedent(f"""
        from lookalike.core import actions
        from lookalike.core.bundle import load_bundle
        from lookalike.core.library import Library
        lib = Library({str(lib)!r}, write=True)
        b = load_bundle({tiny_bundle!r})
        groups = lib.describe_groups(list(lib.grouper(b).groups(b.thresholds["duplicate"])))
        marked = set().union(*(actions.mark_by_rule(g, "largest") for g in groups))
        plan = actions.plan_removal(lib, marked, groups)
        print(len(plan.ok), flush=True)
        actions.move(lib, plan, {str(dest)!r})
    """)
    rng = random.Random(11)
    for k in range(max(1, KILLS // 2) if kill == "random" else 1):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        n_planned = int(proc.stdout.readline())
        if k == 0:
            assert n_planned >= 10
        if kill == "random":
            time.sleep(rng.uniform(0.0, 0.01))   # the move and the exit take tens of ms: land the kill in them
            proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        proc.stdout.close()
        # the next scan finishes an interrupted move (a whole copy in place: the source goes;
        # a partial copy: removed) and the catalog lists exactly the files left in the folder
        subprocess.run(cli("scan", str(library_photos), lib=lib, model=tiny_bundle), check=True)
        after = [os.path.join(library_photos, f) for f in os.listdir(library_photos)]
        after += [os.path.join(dest, f) for f in os.listdir(dest)] if dest.exists() else []
        assert {digest(p) for p in after} == before          # every photo is somewhere
        assert len(after) == len(before)                      # and in one place only, whole
        db = sqlite3.connect(os.path.join(lib, "catalog.sqlite"))
        rows = {os.fsdecode(r[0]) for r in db.execute("SELECT path FROM files")}
        db.close()
        assert rows == {os.path.join(library_photos, f) for f in os.listdir(library_photos)}
