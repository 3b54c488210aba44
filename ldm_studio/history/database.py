"""The generation history: one sqlite database in the app's data folder, one row per finished generation.

Each generation (prompt, negative prompt, every setting as JSON, model name / hash / path, the result
files with their seeds and a small thumbnail, the time) goes in with one transaction, so an entry is
there whole or not at all. Search is by words of the prompt: FTS5 when this sqlite build has it (a
derived index, rebuilt on opening when it is missing or out of step), else LIKE on each word. Newest
first, with paging. WAL mode, so the window can read while another process writes.

Bad files never stop the app: a damaged file (or one from a newer version of the schema) is moved to a
backup name beside it, never deleted, and a fresh database started; `notice` says so once. A database
another program holds locked is waited on briefly (`timeout` seconds: sqlite retries within it), then
`HistoryLocked` is raised; a generation that could not be written is kept and written with the next.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ldm_studio.engine.errors import LdmError

FILE_NAME = "history.sqlite3"
SCHEMA_VERSION = 1
LOCK_TIMEOUT_S = 0.5  # how long a write waits for another program's lock: the window must not freeze
PAGE_SIZE = 50

_SCHEMA = """
CREATE TABLE generations (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    prompt TEXT NOT NULL,
    negative TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    model_path TEXT NOT NULL,
    settings TEXT NOT NULL
);
CREATE INDEX generations_by_model ON generations (model_name, id);
CREATE TABLE results (
    generation INTEGER NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    path TEXT,
    seed INTEGER NOT NULL,
    thumbnail BLOB,
    PRIMARY KEY (generation, position)
);
"""
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


class HistoryError(LdmError):
    """The history database cannot be used (its folder cannot be written, a file cannot be moved)."""


class HistoryLocked(HistoryError):
    """Another program holds the database locked for longer than we wait."""


class _Unusable(Exception):
    """Opening found a file we must not write into (damaged, not ours, a newer schema)."""


@dataclass(frozen=True)
class ResultFile:
    """One image of a generation: where it was saved (None: saving failed), its seed, a small image file
    (JPEG or PNG bytes)."""

    path: str | None
    seed: int
    thumbnail: bytes | None = field(default=None, repr=False)

    @property
    def exists(self) -> bool:
        return self.path is not None and Path(self.path).is_file()


@dataclass(frozen=True)
class Generation:
    """A finished generation, as recorded (`id` 0 until it is in the database)."""

    prompt: str
    negative: str
    settings: dict[str, Any]
    model_name: str
    model_hash: str
    model_path: str
    results: tuple[ResultFile, ...]
    created: float = 0.0  # seconds since the epoch; 0 = now, when recorded
    id: int = 0


class HistoryDatabase:
    """The history file at `path`; `use_fts=None` detects FTS5, False forces the LIKE search."""

    def __init__(self, path: Path, *, use_fts: bool | None = None, timeout: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.notice = ""  # one line for the user when the old file had to be replaced
        self._pending: list[Generation] = []  # recorded while locked; written with the next record
        self._wanted_fts = use_fts
        self.full_text = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"Cannot make the folder for the history ({self.path.parent}): {exc}") from exc
        self._db = self._open()

    # -- opening ------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except _Unusable as exc:
            reason = str(exc)
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise HistoryLocked(_locked_message(self.path)) from exc
            corrupt = getattr(exc, "sqlite_errorname", "") in _CORRUPT
            if not corrupt and type(exc) is not sqlite3.DatabaseError:
                raise HistoryError(f"Cannot open the history {self.path}: {exc}") from exc
            reason = str(exc)
        backup = self._move_aside()
        self.notice = (
            f"The history database was unusable ({reason}): it was kept as {backup.name} in "
            f"{backup.parent} and a new, empty history started."
        )
        try:
            return self._connect()
        except (sqlite3.DatabaseError, _Unusable) as exc:
            raise HistoryError(f"Cannot start a new history at {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; `_transaction` says where each one begins.
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _Unusable(f"damaged: {check}")
            if version > SCHEMA_VERSION:
                raise _Unusable(f"written by a newer ldm_studio, schema {version} > {SCHEMA_VERSION}")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if version == 0 and tables:
                raise _Unusable("not an ldm_studio history: it has other tables")
            db.execute("PRAGMA journal_mode = WAL")
            if version < SCHEMA_VERSION:
                with _transaction(db):
                    for statement in filter(str.strip, _SCHEMA.split(";")):  # executescript would COMMIT
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            wanted = _fts_available(db) if self._wanted_fts is None else self._wanted_fts
            self.full_text = wanted and _fts_available(db)
            if self.full_text:
                _sync_word_index(db)
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        """Rename the unusable file (and its WAL / shared-memory files) to a free backup name."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = self.path.with_name(f"{self.path.name}.unusable-{stamp}")
        number = 1
        while any(Path(f"{backup}{s}").exists() for s in ("", "-wal", "-shm")):
            number += 1
            backup = self.path.with_name(f"{self.path.name}.unusable-{stamp}-{number}")
        try:
            # The WAL belongs to the old file: it must never be replayed into the new one.
            for suffix in ("-wal", "-shm", ""):
                old = Path(f"{self.path}{suffix}")
                if old.exists():
                    old.rename(Path(f"{backup}{suffix}"))
        except OSError as exc:
            raise HistoryError(f"The history {self.path} is unusable and cannot be moved: {exc}") from exc
        return backup

    def close(self) -> None:
        self._db.close()

    # -- writing ------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Generations kept in memory because the database was locked when they finished."""
        return len(self._pending)

    def record(self, generation: Generation) -> int:
        """Write a generation (and any kept from a locked moment) in one transaction; return its id.

        Raises HistoryLocked when the database stays locked; the generation is kept for the next call."""
        created = generation.created or time.time()
        self._pending.append(replace(generation, created=created))
        self.flush()
        return self._last_id

    def flush(self) -> None:
        """Write the kept generations now (HistoryLocked when still locked; they stay kept)."""
        if not self._pending:
            return
        db = self._db
        try:
            with _transaction(db, immediate=True):
                for generation in self._pending:
                    self._last_id = self._insert(db, generation)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                kept = len(self._pending)
                raise HistoryLocked(
                    f"{_locked_message(self.path)} Kept {kept} generation{'s' * (kept > 1)} to write later."
                ) from exc
            raise HistoryError(f"Cannot write the history {self.path}: {exc}") from exc
        self._pending.clear()

    _last_id = 0

    def _insert(self, db: sqlite3.Connection, g: Generation) -> int:
        settings = json.dumps(_plain(g.settings), allow_nan=False, sort_keys=True)
        cursor = db.execute(
            "INSERT INTO generations (created, prompt, negative, model_name, model_hash, model_path,"
            " settings) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (g.created, g.prompt, g.negative, g.model_name, g.model_hash, g.model_path, settings),
        )
        row_id = int(cursor.lastrowid or 0)
        db.executemany(
            "INSERT INTO results (generation, position, path, seed, thumbnail) VALUES (?, ?, ?, ?, ?)",
            [(row_id, i, r.path, int(r.seed), r.thumbnail) for i, r in enumerate(g.results)],
        )
        if self.full_text:
            db.execute("INSERT INTO prompt_words (rowid, prompt) VALUES (?, ?)", (row_id, g.prompt))
        return row_id

    # -- reading ------------------------------------------------------------------------------

    def search(
        self, words: str = "", *, model: str | None = None, limit: int = PAGE_SIZE, offset: int = 0
    ) -> list[Generation]:
        """Generations whose prompt has all these words (the last may be the start of one), newest first."""
        where, args = self._word_filter(words)
        if model is not None:
            where.append("g.model_name = ?")
            args.append(model)
        return self._select(where, args, limit, offset)

    def _select(self, where: list[str], args: list[Any], limit: int, offset: int) -> list[Generation]:
        sql = "SELECT g.id, g.created, g.prompt, g.negative, g.settings, g.model_name, g.model_hash,"
        sql += " g.model_path FROM generations AS g"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY g.id DESC LIMIT ? OFFSET ?"
        rows = self._read(sql, [*args, max(0, int(limit)), max(0, int(offset))])
        results = self._results_of([row[0] for row in rows])
        return [
            Generation(
                prompt=prompt,
                negative=negative,
                settings=_settings(text),
                model_name=name,
                model_hash=digest,
                model_path=path,
                results=tuple(results.get(row_id, ())),
                created=created,
                id=row_id,
            )
            for row_id, created, prompt, negative, text, name, digest, path in rows
        ]

    def get(self, generation_id: int) -> Generation | None:
        found = self._select(["g.id = ?"], [int(generation_id)], 1, 0)
        return found[0] if found else None

    def models(self) -> list[str]:
        """The model names in the history, the most recently used first."""
        rows = self._read("SELECT model_name FROM generations GROUP BY model_name ORDER BY max(id) DESC", [])
        return [row[0] for row in rows]

    def count(self) -> int:
        return int(self._read("SELECT count(*) FROM generations", [])[0][0])

    def _word_filter(self, words: str) -> tuple[list[str], list[Any]]:
        terms = re.findall(r"\w+", words)
        if not terms:
            return [], []
        if self.full_text:
            # Each word quoted (no FTS syntax from the user gets through); the last one as a prefix.
            query = " ".join(f'"{t}"' for t in terms[:-1]) + f' "{terms[-1]}"*'
            return ["g.id IN (SELECT rowid FROM prompt_words WHERE prompt_words MATCH ?)"], [query.strip()]
        likes = ["g.prompt LIKE ? ESCAPE '\\'" for _ in terms]
        return likes, [f"%{_escape_like(t)}%" for t in terms]

    def _results_of(self, ids: Sequence[int]) -> dict[int, list[ResultFile]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._read(
            f"SELECT generation, path, seed, thumbnail FROM results WHERE generation IN ({marks})"
            " ORDER BY generation, position",
            list(ids),
        )
        found: dict[int, list[ResultFile]] = {}
        for generation, path, seed, thumbnail in rows:
            found.setdefault(generation, []).append(ResultFile(path, int(seed), thumbnail))
        return found

    def _read(self, sql: str, args: Sequence[Any]) -> list[tuple]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise HistoryLocked(_locked_message(self.path)) from exc
            raise HistoryError(f"Cannot read the history {self.path}: {exc}") from exc


@contextmanager
def _transaction(db: sqlite3.Connection, *, immediate: bool = False) -> Iterator[None]:
    # IMMEDIATE takes the write lock at BEGIN: a lock held elsewhere is met (and waited on) before any work.
    db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _fts_available(db: sqlite3.Connection) -> bool:
    try:
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_probe USING fts5(x)")
        db.execute("DROP TABLE temp.fts_probe")
    except sqlite3.OperationalError:
        return False
    return True


def _sync_word_index(db: sqlite3.Connection) -> None:
    """The word index is derived: made when missing, refilled when a build without FTS5 wrote meanwhile."""
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS prompt_words USING fts5(prompt)")
    indexed = db.execute("SELECT count(*) FROM prompt_words").fetchone()[0]
    total = db.execute("SELECT count(*) FROM generations").fetchone()[0]
    if indexed != total:
        with _transaction(db, immediate=True):
            db.execute("DELETE FROM prompt_words")
            db.execute("INSERT INTO prompt_words (rowid, prompt) SELECT id, prompt FROM generations")


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "is locked" in str(exc)


def _locked_message(path: Path) -> str:
    return f"The history {path} is locked by another program (another ldm_studio window?)."


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _plain(value: Any) -> Any:
    """Settings as JSON can hold them: tuples as lists, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _settings(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}  # one damaged row must not hide the others
    return value if isinstance(value, dict) else {}
