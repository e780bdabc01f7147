import json
import os
import shutil

import pytest

from lookalike.app.cli import main
from lookalike.core import results


@pytest.fixture
def album(tmp_path, make_photo):
    root = tmp_path / "album"
    root.mkdir()
    for i in range(2):
        p = make_photo(20 + i)
        p.save(root / f"orig{i}.jpg", quality=95)
        p.resize((200, 150)).save(root / f"small{i}.png")
    shutil.copy(root / "orig0.jpg", root / "copy0.jpg")
    make_photo(99).save(root / "lonely.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return root


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_then_groups_json_follows_the_documented_schema(album, tiny_bundle, capsys, tmp_path):
    code, out, _ = run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    assert code == 0 and "7 photos" in out and "2 groups" in out and "1 problem," in out
    code, _, _ = run(capsys, "groups", "--threshold", "95", "--json", str(tmp_path / "g.json"))
    assert code == 0
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["threshold"] == 95 and doc["model"]["name"] == "tiny-test"
    assert len(doc["groups"]) == 2
    for g in doc["groups"]:
        for m in g["members"]:
            assert set(m) >= {"path", "score", "width", "height", "bytes"}
            assert os.path.isabs(m["path"]) and 0 <= m["score"] <= 100
    assert all(len(p) == 3 and p[2] <= 100 for p in doc["pairs"])
    names = sorted(sorted(os.path.basename(m["path"]) for m in g["members"]) for g in doc["groups"])
    assert names == [["copy0.jpg", "orig0.jpg", "small0.png"], ["orig1.jpg", "small1.png"]]


def test_groups_threshold_changes_the_answer_without_a_rescan(album, tiny_bundle, capsys, make_photo):
    make_photo(21).crop((16, 12, 304, 228)).save(album / "cropped1.jpg")   # a copy of orig1, not identical
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    os.remove(album / "orig0.jpg")         # a regroup does not look at the files again
    _, out, _ = run(capsys, "groups", "--threshold", "95", "--json", "-")
    score = min(m["score"] for g in json.loads(out)["groups"] for m in g["members"]
                if m["path"].endswith("cropped1.jpg"))
    assert 95 < score < 100
    _, strict, _ = run(capsys, "groups", "--threshold", str(score + 0.05))
    _, loose, _ = run(capsys, "groups", "--threshold", str(score - 0.05))
    assert "cropped1.jpg" not in strict and "2 groups at score" in strict
    assert "cropped1.jpg" in loose and "2 groups at score" in loose
    code, exact, _ = run(capsys, "groups", "--threshold", "95", "--exact")
    assert code == 0 and "1 group at score" in exact and "small0.png" not in exact


def test_compare_prints_score_and_verdict(album, tiny_bundle, capsys):
    code, out, _ = run(capsys, "--model", tiny_bundle, "compare", str(album / "orig0.jpg"),
                       str(album / "copy0.jpg"), "--json")
    assert code == 0 and json.loads(out) == {"score": 100.0, "verdict": "identical", "threshold": 97.0}
    _, out, _ = run(capsys, "--model", tiny_bundle, "compare", str(album / "orig1.jpg"), str(album / "small1.png"),
                    "--json")
    assert json.loads(out)["verdict"] == "duplicate"
    _, out, _ = run(capsys, "--model", tiny_bundle, "compare", str(album / "orig1.jpg"), str(album / "lonely.jpg"),
                    "--json")
    assert json.loads(out)["verdict"] == "different"


def test_similar_and_problems(album, tiny_bundle, capsys):
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    code, out, _ = run(capsys, "similar", str(album / "orig1.jpg"), "-k", "1", "--json")
    hits = json.loads(out)
    assert code == 0 and [os.path.basename(h["path"]) for h in hits] == ["small1.png"]
    code, out, _ = run(capsys, "problems", "--json")
    assert [os.path.basename(p["path"]) for p in json.loads(out)] == ["broken.jpg"]


@pytest.mark.parametrize("damage", ["missing", "no_json", "garbage_onnx"])
def test_broken_model_bundle_gives_one_clear_message(album, tiny_bundle, tmp_path, capsys, damage):
    bad = tmp_path / "bad"
    if damage != "missing":
        shutil.copytree(tiny_bundle, bad)
        if damage == "no_json":
            (bad / "model.json").unlink()
        else:
            (bad / "model.onnx").write_bytes(b"not an onnx model at all" * 10)
    code, _, err = run(capsys, "-q", "--model", str(bad), "scan", str(album))
    assert code == 1
    assert err.startswith("lookalike: ") and str(bad) in err and "Traceback" not in err


def test_busy_or_unusable_library_gives_one_clear_message(album, tiny_bundle, tmp_path, capsys):
    from lookalike.core.library import Library
    with Library(write=True):
        code, _, err = run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    assert code == 1 and "in use" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "--library", str(blocker / "lib"), "-q", "--model", tiny_bundle, "scan", str(album))
    assert code == 1 and "cannot use the library folder" in err


def test_groups_before_any_scan_says_what_to_do(tiny_bundle, capsys):
    code, _, err = run(capsys, "--model", tiny_bundle, "groups")
    assert code == 1 and "lookalike scan" in err


def test_non_utf8_file_names_survive_scan_groups_and_json(tmp_path, tiny_bundle, capsys, make_photo):
    root = tmp_path / "odd"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"f\xe9te \xff.jpg")
    make_photo(3).save(raw, "JPEG", quality=95)
    make_photo(3).resize((160, 120)).save(root / "copy 📷.png")
    code, _, _ = run(capsys, "-q", "--model", tiny_bundle, "scan", str(root))
    assert code == 0
    code, out, _ = run(capsys, "groups", "--json", str(tmp_path / "g.json"))
    assert code == 0
    doc = json.loads((tmp_path / "g.json").read_bytes().decode("utf-8"))     # strict UTF-8
    members = [m for g in doc["groups"] for m in g["members"]]
    paths = {results.path_from_json(m["path"], m.get("path_bytes")) for m in members}
    assert os.fsdecode(raw) in paths and all(os.path.exists(p) for p in paths)
    odd = next(m for m in members if "path_bytes" in m)
    assert odd["path"].endswith("f\ufffdte \ufffd.jpg")
    assert doc["raw_paths"][odd["path"]] == odd["path_bytes"]
    assert not any("path_bytes" in m for m in members if m is not odd)
    code, out, _ = run(capsys, "groups", "--json", "-")
    assert json.loads(out)["groups"] == doc["groups"]


def test_info_and_version(album, tiny_bundle, capsys):
    code, out, _ = run(capsys, "--model", tiny_bundle, "info")
    assert code == 0 and "library is empty" in out and os.environ["LOOKALIKE_LIBRARY"] in out
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    code, out, _ = run(capsys, "info")
    assert code == 0 and "tiny-test" in out and "7 files, 1 problem," in out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "lookalike 0.1.0" in capsys.readouterr().out


def test_undo_without_a_move_says_so(tiny_bundle, capsys):
    code, _, err = run(capsys, "undo")
    assert code == 1 and "nothing to undo" in err


def test_groups_offers_only_grouping_rules_that_work(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["groups", "--rule", "star"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_gui_gets_the_library_and_model_named_on_the_command_line(monkeypatch, tmp_path):
    import lookalike.app.main as gui
    seen = []
    monkeypatch.setattr(gui, "main", lambda argv=None: seen.append(argv) or 0)
    assert main(["--library", str(tmp_path / "lib"), "--model", "/some/model", "gui"]) == 0
    assert seen == [["--library", str(tmp_path / "lib"), "--model", "/some/model"]]


def test_undo_reports_a_file_that_cannot_go_back_without_a_traceback(album, tiny_bundle, capsys, tmp_path,
                                                                    monkeypatch):
    from lookalike.core import actions
    from lookalike.core.library import Library
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    with Library(write=True) as lib:
        members = lib.describe_groups(list(lib.grouper(lib.bundle()).groups(90)))
        plan = actions.plan_removal(lib, {str(album / "small0.png")}, members)
        assert actions.move(lib, plan, tmp_path / "moved").done

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", src)
    monkeypatch.setattr(actions, "_move_file", refuse)
    code, _, err = run(capsys, "undo")
    assert code == 1 and "Permission denied" in err and "Traceback" not in err


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_dedupe_dry_run_prints_the_plan_and_changes_nothing(album, tiny_bundle, capsys):
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    before = tree(album)
    code, out, _ = run(capsys, "dedupe", "--move-to", str(album.parent / "dupes"), "--dry-run")
    assert code == 0 and tree(album) == before and not (album.parent / "dupes").exists()
    moved = sorted(os.path.basename(line.split(None, 1)[1]) for line in out.splitlines() if line.startswith("move "))
    assert moved == ["copy0.jpg", "small0.png", "small1.png"]        # the originals are kept
    assert "would move to" in out and "3 photos" in out


def test_dedupe_moves_all_but_the_keeper_and_undo_puts_them_back(album, tiny_bundle, capsys):
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    before = tree(album)
    dest = album.parent / "dupes"
    code, out, _ = run(capsys, "dedupe", "--keep", "oldest", "--move-to", str(dest))
    assert code == 0 and "moved 3 photos" in out
    assert len(tree(dest)) == 3 and len(tree(album)) == len(before) - 3
    code, out, _ = run(capsys, "groups", "--json", "-")
    assert json.loads(out)["groups"] == []
    assert run(capsys, "undo")[0] == 0
    assert tree(album) == before and tree(dest) == []


def test_dedupe_trash_never_removes_the_last_copy(album, tiny_bundle, capsys, monkeypatch):
    import send2trash
    trashed = []
    monkeypatch.setattr(send2trash, "send2trash", lambda p: (trashed.append(p), os.remove(p)))
    run(capsys, "-q", "--model", tiny_bundle, "scan", str(album))
    os.remove(album / "orig1.jpg")                     # the keeper of one group, gone outside the app
    code, out, _ = run(capsys, "dedupe", "--trash")
    assert code == 0 and (album / "small1.png").exists()
    assert sorted(os.path.basename(p) for p in trashed) == ["copy0.jpg", "small0.png"]


@pytest.mark.parametrize("argv, words", [
    (["groups", "--threshold", "150"], "outside the match score's range 0-100"),
    (["groups", "--threshold", "-0.5"], "outside the match score's range 0-100"),
    (["groups", "--threshold", "nan"], "outside the match score's range 0-100"),
    (["compare", "a.jpg", "b.jpg", "--threshold", "101"], "outside the match score's range 0-100"),
    (["similar", "a.jpg", "-k", "0"], "must be at least 1"),
    (["similar", "a.jpg", "-k", "many"], "not a whole number"),
    (["scan", "--workers", "0"], "must be at least 1"),
])
def test_out_of_range_values_are_usage_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err


def test_scan_summary_counts_the_whole_commands_time_and_says_1_group(tmp_path, tiny_bundle, capsys,
                                                                      make_photo, monkeypatch):
    """Model loading and grouping (index, check) happen outside Library.scan: the time covers them."""
    import types

    from lookalike.app import cli
    from lookalike.core import bundle as bundle_mod
    from lookalike.core import library as library_mod
    clock = {"now": 1000.0}
    monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=lambda: clock["now"]))

    def slow(fn, seconds):
        def wrapped(*a, **k):
            clock["now"] += seconds
            return fn(*a, **k)
        return wrapped
    monkeypatch.setattr(bundle_mod, "load_bundle", slow(bundle_mod.load_bundle, 7.0))
    monkeypatch.setattr(library_mod.Library, "grouper", slow(library_mod.Library.grouper, 5.0))
    root = tmp_path / "one"
    root.mkdir()
    make_photo(5).save(root / "a.jpg", quality=95)
    make_photo(5).resize((160, 120)).save(root / "a_small.png")
    code, out, _ = run(capsys, "-q", "--model", tiny_bundle, "scan", str(root))
    assert code == 0 and "in 12.0 s" in out
    assert "2 photos" in out and "1 group at score" in out and "0 problems" in out
