"""The history database: record, search, filter, page, restore; damaged and locked files."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from ldm_studio.history.database import (
    FILE_NAME,
    Generation,
    HistoryDatabase,
    HistoryLocked,
    ResultFile,
)


def generation(prompt: str, model: str = "demo", seeds=(1,), folder=None, **settings) -> Generation:
    results = tuple(
        ResultFile(str(folder / f"{seed}.png") if folder else None, seed, b"\x89PNGthumb") for seed in seeds
    )
    return Generation(
        prompt=prompt,
        negative="blurry",
        settings={
            "prompt": prompt,
            "steps": 12,
            "cfg_scale": 5.5,
            "loras": (("a.safetensors", 1.0, 0.5),),
            **settings,
        },
        model_name=model,
        model_hash="0123456789",
        model_path=f"/models/{model}.safetensors",
        results=results,
    )


@pytest.fixture(params=[None, False], ids=["fts-if-present", "like"])
def db(request, tmp_path):
    database = HistoryDatabase(tmp_path / FILE_NAME, use_fts=request.param)
    yield database
    database.close()


def test_record_and_get_back_every_field(db, tmp_path):
    (tmp_path / "7.png").write_bytes(b"png")
    row_id = db.record(generation("a red fox in snow", seeds=(7, 8), folder=tmp_path))
    entry = db.get(row_id)
    assert entry.prompt == "a red fox in snow" and entry.negative == "blurry"
    assert entry.settings == {
        "prompt": "a red fox in snow",
        "steps": 12,
        "cfg_scale": 5.5,
        "loras": [["a.safetensors", 1.0, 0.5]],
    }
    assert (entry.model_name, entry.model_hash, entry.model_path) == (
        "demo",
        "0123456789",
        "/models/demo.safetensors",
    )
    assert [r.seed for r in entry.results] == [7, 8]
    assert entry.results[0].thumbnail == b"\x89PNGthumb"
    assert [r.exists for r in entry.results] == [True, False]  # 8.png was never there: shown as missing
    assert abs(entry.created - time.time()) < 60
    assert db.get(row_id + 100) is None


def test_search_by_words_filter_by_model_newest_first(db):
    db.record(generation("a red fox in snow", model="demo"))
    db.record(generation("a blue whale, (ocean:1.2)", model="sd15"))
    db.record(generation("red car at night", model="sd15"))
    assert [g.prompt for g in db.search("red")] == ["red car at night", "a red fox in snow"]
    assert [g.prompt for g in db.search("RED fox")] == ["a red fox in snow"]  # all words, any case
    assert [g.prompt for g in db.search("ocean")] == ["a blue whale, (ocean:1.2)"]  # emphasis syntax aside
    assert [g.prompt for g in db.search("whale", model="demo")] == []
    assert [g.prompt for g in db.search("", model="sd15")] == [
        "red car at night",
        "a blue whale, (ocean:1.2)",
    ]
    assert db.search('red" OR "blue') == []  # the user's quotes are not query syntax
    assert db.models() == ["sd15", "demo"]


def test_the_last_word_may_be_unfinished(db):
    db.record(generation("a lighthouse on a cliff"))
    assert [g.prompt for g in db.search("lightho")] == ["a lighthouse on a cliff"]


def test_paging(db):
    for i in range(7):
        db.record(generation(f"castle number {i}"))
    pages = [db.search("castle", limit=3, offset=o) for o in (0, 3, 6)]
    assert [[g.prompt[-1] for g in page] for page in pages] == [["6", "5", "4"], ["3", "2", "1"], ["0"]]
    assert db.count() == 7


def test_a_restart_finds_what_was_recorded(tmp_path):
    first = HistoryDatabase(tmp_path / FILE_NAME)
    first.record(generation("an old mill by the river"))
    first.close()
    again = HistoryDatabase(tmp_path / FILE_NAME)
    assert [g.prompt for g in again.search("mill")] == ["an old mill by the river"]
    assert again.notice == ""
    assert sqlite3.connect(tmp_path / FILE_NAME).execute("PRAGMA user_version").fetchone()[0] == 1
    assert sqlite3.connect(tmp_path / FILE_NAME).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_entries_written_without_the_word_index_are_found_once_it_is_back(tmp_path):
    plain = HistoryDatabase(tmp_path / FILE_NAME, use_fts=False)  # a sqlite build without FTS5
    plain.record(generation("a windmill at dawn"))
    plain.close()
    indexed = HistoryDatabase(tmp_path / FILE_NAME)
    if not indexed.full_text:
        pytest.skip("this sqlite has no FTS5")
    assert [g.prompt for g in indexed.search("windmill")] == ["a windmill at dawn"]
    indexed.close()


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all" * 50, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["garbage", "damaged-header"],
)
def test_a_damaged_file_is_kept_as_a_backup_and_a_fresh_history_starts(tmp_path, content):
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    db = HistoryDatabase(path)
    assert "unusable" in db.notice and "kept as" in db.notice
    backups = list(tmp_path.glob(f"{FILE_NAME}.unusable-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content  # moved, byte for byte, never deleted
    assert backups[0].name in db.notice
    db.record(generation("a fresh start"))
    assert [g.prompt for g in db.search("fresh")] == ["a fresh start"]
    db.close()


def test_a_second_damaged_file_gets_its_own_backup(tmp_path):
    path = tmp_path / FILE_NAME
    for _ in range(2):
        path.write_bytes(b"junk" * 100)
        HistoryDatabase(path).close()
    assert len(list(tmp_path.glob(f"{FILE_NAME}.unusable-*"))) == 2


def test_a_database_of_a_newer_schema_is_kept_not_written(tmp_path):
    path = tmp_path / FILE_NAME
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE future (x)")
    other.execute("PRAGMA user_version = 99")
    other.commit()
    other.close()
    db = HistoryDatabase(path)
    assert "newer" in db.notice
    backup = next(tmp_path.glob(f"{FILE_NAME}.unusable-*"))
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == 99
    db.close()


def test_a_locked_database_waits_briefly_says_so_and_loses_nothing(tmp_path):
    path = tmp_path / FILE_NAME
    db = HistoryDatabase(path, timeout=0.2)
    db.record(generation("before the lock"))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program writing, and not letting go
    start = time.perf_counter()
    with pytest.raises(HistoryLocked, match="locked by another program"):
        db.record(generation("while locked"))
    assert time.perf_counter() - start < 2.0  # the window waits a moment, not for ever
    assert db.pending == 1
    assert [g.prompt for g in db.search("before")] == ["before the lock"]  # reading still works (WAL)
    holder.execute("ROLLBACK")
    holder.close()
    db.record(generation("after the lock"))
    assert db.pending == 0
    assert [g.prompt for g in db.search("lock")] == ["after the lock", "while locked", "before the lock"]
    db.close()


def test_a_lock_released_within_the_wait_is_not_an_error(tmp_path):
    path = tmp_path / FILE_NAME
    db = HistoryDatabase(path, timeout=2.0)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: holder.execute("ROLLBACK")).start()
    db.record(generation("patience"))
    assert db.pending == 0 and db.count() == 1
    holder.close()
    db.close()


def test_a_database_locked_at_opening_is_reported_and_left_where_it_is(tmp_path):
    path = tmp_path / FILE_NAME
    HistoryDatabase(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # as an older tool might leave it: readers wait too
    holder.execute("BEGIN EXCLUSIVE")
    start = time.perf_counter()
    with pytest.raises(HistoryLocked):
        HistoryDatabase(path, timeout=0.2)
    assert time.perf_counter() - start < 2.0
    assert list(tmp_path.glob(f"{FILE_NAME}.unusable-*")) == []  # locked is not damaged: nothing moved
    holder.execute("ROLLBACK")
    holder.close()
    HistoryDatabase(path).close()
