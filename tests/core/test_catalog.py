import sqlite3

import numpy as np
import pytest

from lookalike.core import catalog as catalog_mod
from lookalike.core.catalog import Catalog, CatalogError, SCHEMA_VERSION
from lookalike.core.library import Library, LibraryError


def make_v1_catalog(path):
    db = sqlite3.connect(path)
    for stmt in catalog_mod._SCHEMA_V1.split(";"):
        if stmt.strip():
            db.execute(stmt)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO files (path, size, mtime_ns) VALUES (?, 10, 20)", (b"/photos/a.jpg",))
    db.execute("INSERT INTO vectors (file_id, model_key, vec) VALUES (1, 'm:whole', ?)",
               (np.ones(4, np.float32).tobytes(),))
    db.commit()
    db.close()


def catalog_at_version(path, version):
    """An open connection to a catalog as Lookalike left it at schema `version` (a file and a
    vector in it)."""
    make_v1_catalog(path)
    db = sqlite3.connect(path)
    for v in range(1, version):
        catalog_mod._run_script(db, catalog_mod.MIGRATIONS[v])
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
    return db


def test_catalog_from_an_older_schema_migrates_and_keeps_its_data(tmp_path):
    make_v1_catalog(tmp_path / "c.sqlite")
    cat = Catalog(tmp_path / "c.sqlite")
    assert cat.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert [r.path for r in cat.files()] == ["/photos/a.jpg"]
    labels, ids, vecs = cat.vectors("m:whole", 4)
    assert ids.tolist() == [1] and vecs.shape == (1, 4)
    assert cat.last_scan() is None          # the table added by the migration is there
    cat.close()


def test_checks_stored_before_the_relation_was_judged_read_as_not_judged(tmp_path):
    """A catalog of version 4 holds inliers only: after the migration its checks read as "not
    judged" (-1), which scores them as before; new checks store their relation."""
    db = catalog_at_version(tmp_path / "c.sqlite", 4)
    db.execute("INSERT INTO files (path, size, mtime_ns) VALUES (?, 11, 21)", (b"/photos/b.jpg",))
    db.execute("INSERT INTO pair_checks VALUES (1, 2, 150)")
    db.commit()
    db.close()
    cat = Catalog(tmp_path / "c.sqlite")
    assert [x.tolist() for x in cat.pair_checks(relation=True)] == [[1], [2], [150], [-1]]
    with cat.transaction():
        cat.put_pair_checks([(1, 2, 150, False)])
    assert [x.tolist() for x in cat.pair_checks(relation=True)] == [[1], [2], [150], [0]]
    assert [x.tolist() for x in cat.pair_checks()] == [[1], [2], [150]]
    cat.close()


def test_files_scanned_before_capture_facts_keep_their_date_as_capture_time(tmp_path):
    """Version 6 stores the camera's capture facts apart from the date shown; a file scanned
    before keeps its date as its capture time (judged as before) until it changes."""
    from lookalike.core.decode import Capture
    db = catalog_at_version(tmp_path / "c.sqlite", 5)
    db.execute("UPDATE files SET taken_at='2024-05-01T10:00:01'")
    db.commit()
    db.close()
    cat = Catalog(tmp_path / "c.sqlite")
    row = cat.files()[0]
    assert row.capture() == Capture("2024-05-01T10:00:01", "2024-05-01T10:00:01")
    with cat.transaction():
        cat.set_decoded(row.id, 40, 30, Capture("2025-01-02T18:30:00", None, "5", 0.01, "Canon EOS"))
    assert cat.files()[0].capture() == Capture("2025-01-02T18:30:00", None, "5", 0.01, "Canon EOS")
    with cat.transaction():
        cat.reset_file(row.id, 12, 22)
    assert cat.files()[0].capture() == Capture()
    cat.close()


def test_catalog_from_a_newer_version_is_refused(tmp_path):
    make_v1_catalog(tmp_path / "c.sqlite")
    db = sqlite3.connect(tmp_path / "c.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(CatalogError, match="newer Lookalike"):
        Catalog(tmp_path / "c.sqlite")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_catalog_gives_a_clear_message_and_a_way_out(tmp_path, damage, tiny_bundle, make_photo):
    from lookalike.core.bundle import load_bundle
    lib_dir = tmp_path / "lib"
    (tmp_path / "p").mkdir()
    make_photo(1).save(tmp_path / "p" / "a.jpg")
    with Library(lib_dir, write=True) as lib:
        lib.scan([tmp_path / "p"], load_bundle(tiny_bundle))
    cat_file = lib_dir / "catalog.sqlite"
    for extra in ("-wal", "-shm"):
        (lib_dir / f"catalog.sqlite{extra}").unlink(missing_ok=True)
    data = cat_file.read_bytes()
    cat_file.write_bytes(b"\x13garbage!" * 500 if damage == "garbage" else data[:100])
    with pytest.raises(LibraryError, match="damaged.*Move it away"):
        Library(lib_dir)
