import os
import shutil

import pytest

from lookalike.core import actions
from lookalike.core.bundle import load_bundle
from lookalike.core.library import Library


@pytest.fixture
def scanned(tmp_path, make_photo, tiny_bundle):
    """One group of three copies (one in a protected folder) and one group of two."""
    root = tmp_path / "photos"
    (root / "keep").mkdir(parents=True)
    p = make_photo(1, (400, 300))
    p.save(root / "big.jpg", quality=95)
    p.resize((200, 150)).save(root / "small.jpg", quality=95)
    p.resize((300, 225)).save(root / "keep" / "archived.png")
    q = make_photo(2)
    q.save(root / "q1.jpg", quality=95)
    shutil.copy(root / "q1.jpg", root / "q2.jpg")
    bundle = load_bundle(tiny_bundle)
    lib = Library(write=True)
    lib.catalog.set_protected(str(root / "keep"))
    lib.scan([root], bundle)
    members = lib.describe_groups(list(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])))
    yield lib, root, members, bundle
    lib.close()


def group_with(members, name):
    return next(g for g in members if any(m.path.endswith(name) for m in g))


def test_rules_keep_one_and_never_mark_protected_files(scanned):
    lib, root, members, _ = scanned
    g = group_with(members, "big.jpg")
    prot = lib.catalog.protected()
    # a copy in a protected folder stays anyway: it is the one every rule keeps
    both = {str(root / "big.jpg"), str(root / "small.jpg")}
    assert actions.mark_by_rule(g, "highest_resolution", prot) == both
    assert actions.mark_by_rule(g, "protected", prot) == both
    assert str(root / "keep" / "archived.png") not in actions.mark_by_rule(g, "largest", prot)
    assert actions.mark_by_rule(g, "highest_resolution", []) == {str(root / "small.jpg"),
                                                                 str(root / "keep" / "archived.png")}
    assert actions.mark_by_rule(g, "protected", []) == set()


def test_plan_refuses_protected_last_copy_and_changed_files(scanned):
    lib, root, members, _ = scanned
    g2 = group_with(members, "q1.jpg")
    everything = {m.path for g in members for m in g}
    plan = actions.plan_removal(lib, everything, members)
    refused = dict(plan.refused)
    assert refused[str(root / "keep" / "archived.png")] == "in a protected folder"
    assert sum(1 for m in g2 if m.path in refused) == 1          # one copy of q always stays
    assert "last copy" in refused[g2[0].path]
    os.utime(root / "small.jpg", ns=(5, 5))
    plan = actions.plan_removal(lib, {str(root / "small.jpg")}, members)
    assert plan.ok == [] and "changed since" in plan.refused[0][1]


def test_trash_moves_files_to_the_trash_function_and_forgets_them(scanned, tmp_path):
    lib, root, members, bundle = scanned
    trash_dir = tmp_path / "trash"
    trash_dir.mkdir()
    plan = actions.plan_removal(lib, {str(root / "small.jpg"), str(root / "q2.jpg")}, members)
    out = actions.trash(lib, plan, trash_func=lambda p: shutil.move(p, trash_dir / os.path.basename(p)))
    assert sorted(os.listdir(trash_dir)) == ["q2.jpg", "small.jpg"] and not out.failed
    assert not (root / "small.jpg").exists() and (root / "big.jpg").exists()
    groups = lib.describe_groups(list(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])))
    assert all(not m.path.endswith(("small.jpg", "q2.jpg")) for g in groups for m in g)


def test_move_is_journalled_and_undone(scanned, tmp_path):
    lib, root, members, _ = scanned
    dest = tmp_path / "moved"
    (dest).mkdir()
    (dest / "small.jpg").write_text("already here: never overwritten")
    plan = actions.plan_removal(lib, {str(root / "small.jpg")}, members)
    out = actions.move(lib, plan, dest)
    assert out.done == [(str(root / "small.jpg"), str(dest / "small (1).jpg"))]
    assert (dest / "small.jpg").read_text().startswith("already")
    back = actions.undo_last(lib)
    assert back.done and (root / "small.jpg").exists() and not (dest / "small (1).jpg").exists()
    with pytest.raises(actions.ActionError):
        actions.undo_last(lib)


def test_export_csv_and_json(scanned, tmp_path):
    import csv
    import json
    _, _, members, _ = scanned
    actions.export_groups(members, tmp_path / "g.csv", "csv")
    with open(tmp_path / "g.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(len(g) for g in members) and rows[0]["group"] == "1"
    actions.export_groups(members, tmp_path / "g.json", "json")
    assert len(json.loads((tmp_path / "g.json").read_text())["groups"]) == len(members)


@pytest.fixture
def three_copies(tmp_path, make_photo, tiny_bundle):
    """One group a/b/c of one photo at three sizes, nothing protected."""
    root = tmp_path / "three"
    root.mkdir()
    p = make_photo(5, (400, 300))
    p.save(root / "a.jpg", quality=95)
    p.resize((200, 150)).save(root / "b.jpg", quality=95)
    p.resize((300, 225)).save(root / "c.png")
    bundle = load_bundle(tiny_bundle)
    lib = Library(write=True)
    lib.scan([root], bundle)
    members = lib.describe_groups(list(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])))
    assert sorted(os.path.basename(m.path) for m in members[0]) == ["a.jpg", "b.jpg", "c.png"]
    yield lib, root, members
    lib.close()


def test_last_copy_guard_counts_files_on_disk_not_marks(three_copies):
    lib, root, members = three_copies
    os.remove(root / "a.jpg")                 # the kept copy, deleted outside the app
    plan = actions.plan_removal(lib, {str(root / "b.jpg"), str(root / "c.png")}, members)
    assert len(plan.ok) == 1 and "last copy" in dict(plan.refused)[str(root / "c.png")]
    out = actions.trash(lib, plan, trash_func=os.remove)
    assert len(out.done) == 1 and len(os.listdir(root)) == 1


def test_plan_takes_file_ids_as_marks(three_copies):
    lib, root, members = three_copies
    b = next(m for m in members[0] if m.path.endswith("b.jpg"))
    assert actions.plan_removal(lib, {b.id}, members).ok == [b.path]


def test_protection_follows_symlinks_both_ways(tmp_path):
    real = tmp_path / "real" / "keep"
    real.mkdir(parents=True)
    (real / "x.jpg").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    through_link = str(tmp_path / "link" / "keep" / "x.jpg")
    assert actions.is_protected(through_link, [str(real)])             # file reached through a symlinked root
    assert actions.is_protected(str(real / "x.jpg"), [str(tmp_path / "link" / "keep")])   # folder named via a link
    assert not actions.is_protected(str(tmp_path / "real" / "keepsake.jpg"), [str(real)])


def test_protection_recognises_the_same_folder_spelled_otherwise(tmp_path, monkeypatch):
    """On a case-insensitive disk 'Keep' and 'keep' are one folder: stat says so, not the string."""
    keep = tmp_path / "keep"
    keep.mkdir()
    real_stat = os.stat

    def stat(p, *a, **k):
        p = os.fspath(p)
        return real_stat(p.replace(os.sep + "KEEP", os.sep + "keep"), *a, **k)

    monkeypatch.setattr(os, "stat", stat)
    assert actions.is_protected(str(tmp_path / "KEEP" / "x.jpg"), [str(keep)])


def test_not_a_duplicate_stays_dismissed_after_the_files_move(three_copies, tiny_bundle):
    lib, root, members = three_copies
    bundle = load_bundle(tiny_bundle)
    assert lib.not_duplicate([str(root / "a.jpg"), str(root / "b.jpg"), str(root / "c.png")]) == 3
    assert len(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])) == 0
    (root / "sub").mkdir()
    os.rename(root / "a.jpg", root / "sub" / "renamed.jpg")
    os.rename(root / "c.png", root / "sub" / "c.png")
    stats = lib.scan(None, bundle)
    assert stats.added == 2 and stats.removed == 2
    assert len(lib.grouper(bundle).groups(bundle.thresholds["duplicate"])) == 0
