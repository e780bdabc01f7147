"""The engine's results: suggested keeper, reclaimable bytes, exact groups, the JSON document."""
import json
import os

import numpy as np

from lookalike.core import actions, results
from lookalike.core.bundle import load_bundle
from lookalike.core.grouping import Groups
from lookalike.core.library import Library


def table(n, pixels, sizes, dates, protected=None, hashes=None):
    return results.FileTable.build(np.arange(1, n + 1), sizes, pixels, dates, hashes or [None] * n,
                                   protected or [False] * n)


def one_group(ids, scores):
    return Groups(np.asarray(ids, np.int64), np.asarray(scores, np.float32), np.array([0, len(ids)], np.int64),
                  np.array([max(scores[1:])], np.float32))


def test_keeper_is_the_original_not_the_best_matching_edit():
    # 1 is the representative (a half-size recompressed copy), 2 the 3000x1688 original
    t = table(3, [1500 * 844, 3000 * 1688, 1500 * 844], [300_000, 2_000_000, 290_000], [10, 20, 5])
    res = results.Results(one_group([1, 2, 3], [100.0, 98.0, 99.0]), t)
    assert res.group(0).ids[0] == 2
    assert int(res.reclaim[0]) == 590_000 == res.reclaimable


def test_keeper_order_protected_then_resolution_then_size_then_age():
    base = dict(pixels=[100, 100, 100], sizes=[5, 5, 5], dates=[30, 20, 10])
    g = one_group([1, 2, 3], [100.0, 99.0, 98.0])
    assert results.Results(g, table(3, **base)).group(0).ids[0] == 3                       # oldest
    assert results.Results(g, table(3, **{**base, "sizes": [5, 9, 5]})).group(0).ids[0] == 2   # largest
    assert results.Results(g, table(3, **{**base, "pixels": [200, 100, 100], "sizes": [5, 9, 5]})).group(0).ids[0] == 1
    assert results.Results(g, table(3, **base, protected=[False, True, False])).group(0).ids[0] == 2
    assert results.Results(g, table(3, **base), rule="newest").group(0).ids[0] == 1
    assert results.Results(g, table(3, **{**base, "pixels": [200, 100, 100], "sizes": [5, 9, 5]}),
                           rule="largest").group(0).ids[0] == 2


def test_exact_only_splits_groups_into_sets_of_identical_files():
    t = table(5, [1] * 5, [10, 10, 20, 20, 30], [1, 2, 3, 4, 5], hashes=["f:a", "f:a", "f:b", "f:b", None])
    res = results.Results(one_group([1, 2, 3, 4, 5], [100.0, 99, 98, 97, 96]), t).exact_only()
    assert sorted(sorted(res.group(i).ids) for i in range(len(res))) == [[1, 2], [3, 4]]
    assert res.reclaimable == 30


def test_one_keeper_and_one_figure_in_groups_json_plan_and_results(tmp_path, make_photo, tiny_bundle, capsys):
    from lookalike.app.cli import main
    root = tmp_path / "p"
    root.mkdir()
    p = make_photo(8, (400, 300))
    p.resize((200, 150)).save(root / "edit.jpg", quality=60)
    p.save(root / "orig.jpg", quality=95)
    p.resize((300, 225)).save(root / "mid.png")
    assert main(["-q", "--model", tiny_bundle, "scan", str(root)]) == 0
    capsys.readouterr()
    assert main(["groups", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (g,) = doc["groups"]
    keep = [m for m in g["members"] if m["keep"]]
    assert len(keep) == 1 and keep[0]["path"].endswith("orig.jpg") and g["members"][0] is keep[0]
    assert g["reclaimable"] == sum(m["bytes"] for m in g["members"] if not m["keep"]) == doc["reclaimable"]
    bundle = load_bundle(tiny_bundle)
    with Library() as lib:
        res = lib.results(bundle)
        members = results.describe(lib.catalog, res, range(len(res)))
        plan = actions.plan_removal(lib, {m.path for m in members[0] if not m.keep}, members)
    assert plan.bytes == res.reclaimable == g["reclaimable"] and not plan.refused
    assert sorted(os.path.basename(x) for x in plan.ok) == ["edit.jpg", "mid.png"]


def test_the_sharper_shot_is_the_keeper_of_a_group_of_similar_shots(tmp_path, tiny_bundle, capsys):
    """Two shots of one scene seconds apart, the second one shaken (blurred) but saved larger:
    the rule (highest resolution) would keep the shaken one; in a group of similar shots the
    keeper is the sharper shot, in `groups --json` and in the results the GUI shows. A group of
    copies keeps the rule."""
    from PIL import ImageFilter

    from lookalike.app.cli import main
    from lookalike.app.groups import compute_groups

    from .test_relation import scene, with_capture_time
    shots, copies = tmp_path / "shots", tmp_path / "copies"
    shots.mkdir()
    copies.mkdir()
    view = scene((640, 480), seed=3)
    with_capture_time(view, shots / "sharp.jpg", "2024:05:01 10:00:01")
    with_capture_time(view.resize((800, 600)).filter(ImageFilter.GaussianBlur(6)), shots / "shaken.jpg",
                      "2024:05:01 10:00:04")
    other = scene((640, 480), seed=11)
    other.save(copies / "small.jpg", quality=90)
    other.resize((800, 600)).filter(ImageFilter.GaussianBlur(2)).save(copies / "large-soft.jpg", quality=90)
    lib = tmp_path / "lib"
    assert main(["-q", "--library", str(lib), "--model", tiny_bundle, "scan", str(tmp_path / "shots"),
                 str(tmp_path / "copies")]) == 0
    capsys.readouterr()
    assert main(["--library", str(lib), "--model", tiny_bundle, "groups", "--json", "-", "--threshold", "90"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kept = {os.path.basename(os.path.dirname(g["members"][0]["path"])):
            ([os.path.basename(m["path"]) for m in g["members"] if m["keep"]], g["keep_by"]) for g in doc["groups"]}
    assert kept["shots"] == (["sharp.jpg"], "best shot")
    assert kept["copies"] == (["large-soft.jpg"], "highest-resolution")      # copies: the rule
    bundle = load_bundle(tiny_bundle)
    with Library(lib) as library:
        res = compute_groups(library.grouper(bundle), library.file_table(), 90.0, exact=False)
        first = {os.path.basename(m[0].path) for m in library.describe_groups([res.group(i) for i in range(len(res))],
                                                                              presorted=True)}
        by_rule = library.results(bundle, 90.0, keep="highest-resolution")     # what `dedupe --keep` uses
        ruled = {library.catalog.files([by_rule.group(i).ids[0]])[0].path for i in range(len(by_rule))}
    assert first == {"sharp.jpg", "large-soft.jpg"}
    assert {os.path.basename(p) for p in ruled} == {"shaken.jpg", "large-soft.jpg"}


def test_a_protected_shot_is_kept_before_the_best_shot():
    t = results.FileTable.build([1, 2], [10, 10], [100, 100], [1, 2], [None, None], [True, False],
                                [(5.0, 0.0, 0.1, 1.0, 20.0), (50.0, 0.0, 0.1, 1.0, 20.0)])
    g = one_group([1, 2], [100.0, 90.0])
    assert results.Results(g, t, duplicate=95.0).group(0).ids[0] == 1        # protected
    t.protected[:] = False
    assert results.Results(g, t, duplicate=95.0).group(0).ids[0] == 2        # sharper
    assert results.Results(g, t).group(0).ids[0] == 1                        # no threshold: the rule
