"""A root that cannot be read (unplugged drive, renamed folder) is offline, not deleted."""
import os
import shutil

import pytest

from lookalike.app.cli import main
from lookalike.core.bundle import load_bundle
from lookalike.core.library import Library


@pytest.fixture
def album(tmp_path, make_photo):
    root = tmp_path / "album"
    root.mkdir()
    for i in range(3):
        p = make_photo(30 + i)
        p.save(root / f"orig{i}.jpg", quality=95)
        p.resize((160, 120)).save(root / f"small{i}.png")
        p.save(root / f"recomp{i}.jpg", quality=40)
    shutil.copy(root / "orig0.jpg", root / "exact0.jpg")
    return root


def test_offline_root_keeps_its_photos_and_nothing_is_read_again(album, tiny_bundle, tmp_path, capsys):
    bundle = load_bundle(tiny_bundle)
    with Library(write=True) as lib:
        first = lib.scan([album], bundle)
        before = (lib.catalog.count_files(), len(lib.catalog.vector_labels(lib.model_key(bundle))[0]),
                  len(lib.catalog.pair_checks()[0]))
        n_groups = len(lib.results(bundle))
    assert first.embedded > 0 and n_groups > 0
    away = tmp_path / "unplugged"
    os.rename(album, away)
    assert main(["-q", "--model", tiny_bundle, "scan"]) == 0
    assert "offline" in capsys.readouterr().out
    with Library() as lib:
        assert lib.offline_roots() == [str(album)]
        assert (lib.catalog.count_files(), len(lib.catalog.vector_labels(lib.model_key(bundle))[0]),
                len(lib.catalog.pair_checks()[0])) == before
        assert len(lib.results(bundle)) == n_groups
        assert not [p for p, why in lib.problems() if p.startswith(str(album))]
    os.rename(away, album)
    with Library(write=True) as lib:
        back = lib.scan(None, bundle)
        assert lib.offline_roots() == []
    assert (back.added, back.removed, back.embedded, back.verified) == (0, 0, 0, 0)


def test_an_empty_mount_point_is_offline_but_a_new_empty_folder_is_not(album, tiny_bundle, tmp_path):
    bundle = load_bundle(tiny_bundle)
    empty = tmp_path / "new"
    empty.mkdir()
    with Library(write=True) as lib:
        lib.scan([album, empty], bundle)
        n = lib.catalog.count_files()
        for f in album.iterdir():
            os.rename(f, tmp_path / f.name)            # the drive's files are gone, its mount point stays
        stats = lib.scan(None, bundle)
        assert stats.offline == [str(album)] and stats.removed == 0 and lib.catalog.count_files() == n
