"""Local event store: SQLite (WAL) rows + JPEG snapshot files, with retention by age and bytes.

Layout under the store folder (``StoreConfig.path``)::

    events.db                               one row per event id, updated through its lifecycle
    snapshots/YYYY-MM-DD/<event id>.jpg     best snapshot (UTC date of the event's start)

- A message is an upsert on ``id`` that keeps the highest ``seq`` (late or repeated messages never
  roll a row back). A snapshot file is written atomically (temp file + fsync + rename) BEFORE the
  row that references it is committed, so a row never points at a half-written file.
- Retention: rows whose event started more than ``max_age_days`` ago are deleted with their files;
  when the snapshot files exceed ``max_bytes`` the oldest are removed first and their rows keep
  ``snapshot_pruned = 1``.
- One writer (the runner, from one thread at a time; a lock serialises callers) and any number of
  readers in other processes (the CLI): WAL mode lets them read while it writes.
- Extra writes in the SAME transaction as an event (the uplink outbox keeps its tables in this
  database file): ``save(event, jpeg, also=lambda conn: conn.execute(...))``, or
  ``with store.transaction() as conn: ...``; ``store.db_path`` is the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgesight.config import StoreConfig
from edgesight.errors import EdgesightError
from edgesight.types import Event

__all__ = ["DB_NAME", "EventRecord", "EventStore", "PruneReport", "StoreError"]

DB_NAME = "events.db"
SNAPSHOT_DIR = "snapshots"
SCHEMA_VERSION = 1
_PRUNE_EVERY_SECONDS = 300.0  # wall time between age-retention passes while writing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    source_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    rule TEXT NOT NULL,
    zone TEXT,
    start_pts REAL NOT NULL,
    end_pts REAL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    track_id INTEGER,
    class_name TEXT,
    confidence REAL,
    snapshot TEXT,
    snapshot_bytes INTEGER NOT NULL DEFAULT 0,
    snapshot_pruned INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_started ON events (started_at);
CREATE INDEX IF NOT EXISTS events_kind_started ON events (kind, started_at);
CREATE INDEX IF NOT EXISTS events_source_started ON events (source_id, started_at);
"""

_COLUMNS = (
    "id, seq, device_id, source_id, kind, state, rule, zone, start_pts, end_pts, started_at, updated_at, "
    "track_id, class_name, confidence, body"
)
_UPSERT = f"""
INSERT INTO events ({_COLUMNS}) VALUES ({", ".join("?" * 16)})
ON CONFLICT(id) DO UPDATE SET
    seq = excluded.seq, device_id = excluded.device_id, source_id = excluded.source_id,
    kind = excluded.kind, state = excluded.state, rule = excluded.rule, zone = excluded.zone,
    start_pts = excluded.start_pts, end_pts = excluded.end_pts, started_at = excluded.started_at,
    updated_at = excluded.updated_at, track_id = excluded.track_id, class_name = excluded.class_name,
    confidence = excluded.confidence, body = excluded.body
WHERE excluded.seq > events.seq
"""
_SELECT = "SELECT body, snapshot, snapshot_bytes, snapshot_pruned FROM events"


class StoreError(EdgesightError):
    """The event store folder or database is missing, unreadable or corrupt."""


@dataclass(frozen=True)
class EventRecord:
    """One stored event (its latest message) and the state of its snapshot.

    Attributes:
        event: the event; ``event.snapshot`` is the path relative to the store root, or None.
        snapshot_file: absolute path of the JPEG, or None (none taken, or pruned).
        snapshot_bytes: size of the JPEG when it was written (0 = none).
        snapshot_pruned: True when retention removed the file (the row stays).
    """

    event: Event
    snapshot_file: Path | None
    snapshot_bytes: int
    snapshot_pruned: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the event's fields plus ``snapshot_file`` and ``snapshot_pruned``."""
        d = self.event.model_dump(mode="json")
        d["snapshot_file"] = None if self.snapshot_file is None else str(self.snapshot_file)
        d["snapshot_pruned"] = self.snapshot_pruned
        return d


@dataclass(frozen=True)
class PruneReport:
    """What one retention pass removed."""

    events_deleted: int = 0
    snapshots_removed: int = 0
    bytes_freed: int = 0


class EventStore:
    """Events in ``<cfg.path>/events.db`` and snapshots under ``<cfg.path>/snapshots/``.

    Args:
        cfg: store settings (folder, retention).
        create: create the folder and database if missing (the writer). False = the folder and a
            valid store database must exist (readers such as the CLI), else StoreError.
        clock: UNIX-time source for retention (injectable for tests).

    Raises:
        StoreError: missing store (create=False), unreadable or corrupt database.
    """

    def __init__(
        self, cfg: StoreConfig, *, create: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.cfg = cfg
        self.root = Path(cfg.path)
        self.db_path = self.root / DB_NAME
        self.snapshots_dir = self.root / SNAPSHOT_DIR
        self._clock = clock
        self._lock = threading.RLock()
        self._writable = create
        if not create:
            if not self.root.is_dir():
                raise StoreError(f"event store not found: {self.root} (expected a folder holding {DB_NAME})")
            if not self.db_path.is_file():
                raise StoreError(f"event store {self.root} has no {DB_NAME} (no events recorded there yet?)")
        else:
            try:
                self.snapshots_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create event store folder {self.root}: {exc.strerror or exc}"
                ) from None
        self._conn = self._connect()
        self._snapshot_total = self._sum_snapshot_bytes()
        self._last_age_prune = -float("inf")
        if create:
            self.prune()

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> EventStore:
        """Open the store in folder ``path`` (readers: ``create=False``, the default)."""
        return cls(StoreConfig.model_validate({"path": Path(path)}), create=create)

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        where = str(self.db_path)
        try:
            conn = sqlite3.connect(where, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store database {where}: {exc}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            if self._writable:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{where}: could not switch to WAL journal mode (got {mode!r})")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "events" not in tables:
                raise StoreError(
                    f"{where} is a SQLite database but not an edgesight event store (no events table)"
                )
            row = conn.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{where}: store schema version {row[0]} is newer than this edgesight understands ({SCHEMA_VERSION})"
                )
            conn.execute("SELECT count(*) FROM events").fetchone()  # touches the pages: corruption shows here
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{where} is not a readable event store database: {exc}") from None
        except StoreError:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"event store {self.db_path}: {exc}") from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on the store's connection (ROLLBACK on error).

        For writers sharing this database file (the outbox): their statements commit or roll back
        together with whatever else runs inside the block. Not re-entrant.
        """
        self._require_writable()
        with self._lock, self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _require_writable(self) -> None:
        if not self._writable:
            raise StoreError(f"event store {self.root} was opened read-only")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def snapshot_relpath(self, event: Event) -> str:
        """``snapshots/YYYY-MM-DD/<id>.jpg`` (UTC date of the event's start), relative to the root."""
        try:
            day = datetime.fromtimestamp(event.started_at, tz=timezone.utc).strftime("%Y-%m-%d")
        except (OverflowError, OSError, ValueError):  # a nonsense clock must not lose the event
            day = "undated"
        return f"{SNAPSHOT_DIR}/{day}/{event.id}.jpg"

    def save(
        self,
        event: Event,
        snapshot_jpeg: bytes | None = None,
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Event:
        """Record one event message (upsert on id, highest seq wins) and optionally its snapshot.

        Args:
            event: the message (not modified).
            snapshot_jpeg: JPEG bytes; written to ``snapshots/YYYY-MM-DD/<id>.jpg`` (replacing an
                earlier snapshot of the same event) before the row is committed.
            also: called with the connection inside the same transaction, after the event row is
                written (e.g. to enqueue the event in the outbox); if it raises, nothing is saved.

        Returns:
            The event as stored: ``snapshot`` set to the relative path when the event has one.
        """
        self._require_writable()
        rel: str | None = None
        size = 0
        created_file: Path | None = None
        if snapshot_jpeg:
            rel = self.snapshot_relpath(event)
            target = self.root / rel
            existed = target.exists()
            self._write_atomic(target, snapshot_jpeg)
            size = len(snapshot_jpeg)
            created_file = None if existed else target
        body = event.model_copy(update={"snapshot": None}).model_dump_json()
        try:
            with self.transaction() as conn:
                old = conn.execute(
                    "SELECT snapshot, snapshot_bytes, snapshot_pruned FROM events WHERE id = ?", (event.id,)
                ).fetchone()
                conn.execute(
                    _UPSERT,
                    (
                        event.id,
                        event.seq,
                        event.device_id,
                        event.source_id,
                        event.kind,
                        event.state,
                        event.rule,
                        event.zone,
                        event.start_pts,
                        event.end_pts,
                        event.started_at,
                        event.updated_at,
                        event.track_id,
                        event.class_name,
                        event.confidence,
                        body,
                    ),
                )
                if rel is not None:
                    conn.execute(
                        "UPDATE events SET snapshot = ?, snapshot_bytes = ?, snapshot_pruned = 0 WHERE id = ?",
                        (rel, size, event.id),
                    )
                if also is not None:
                    also(conn)
        except BaseException:
            if created_file is not None:
                with contextlib.suppress(OSError):
                    created_file.unlink()
            raise
        if rel is not None:
            previous = int(old[1]) if old is not None and old[0] and not old[2] else 0
            self._snapshot_total += size - previous
        elif old is not None and old[0] and not old[2]:
            rel = str(old[0])
        self._maybe_prune()
        return event.model_copy(update={"snapshot": rel})

    def _write_atomic(self, target: Path, data: bytes) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
                dfd = os.open(target.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as exc:
            raise StoreError(f"cannot write snapshot {target}: {exc.strerror or exc}") from None

    # ------------------------------------------------------------------ retention
    def _sum_snapshot_bytes(self) -> int:
        with self._lock, self._guard():
            row = self._conn.execute(
                "SELECT coalesce(sum(snapshot_bytes), 0) FROM events WHERE snapshot IS NOT NULL AND snapshot_pruned = 0"
            ).fetchone()
        return int(row[0])

    @property
    def snapshot_bytes(self) -> int:
        """Bytes of snapshot files the store currently keeps (by its own accounting)."""
        return self._snapshot_total

    def _maybe_prune(self) -> None:
        over = self.cfg.max_bytes is not None and self._snapshot_total > self.cfg.max_bytes
        due = self._clock() - self._last_age_prune >= _PRUNE_EVERY_SECONDS
        if over or due:
            self.prune()

    def prune(self, now: float | None = None) -> PruneReport:
        """Apply retention now: drop events older than ``max_age_days``, then trim snapshots to ``max_bytes``.

        Args:
            now: UNIX time to measure ages from (default: the store's clock).
        """
        self._require_writable()
        now = self._clock() if now is None else now
        deleted = removed = freed = 0
        files: list[Path] = []
        with self._lock:
            self._last_age_prune = self._clock()
            if self.cfg.max_age_days is not None:
                cutoff = now - self.cfg.max_age_days * 86400.0
                with self.transaction() as conn:
                    rows = conn.execute(
                        "SELECT snapshot, snapshot_bytes, snapshot_pruned FROM events WHERE started_at < ?",
                        (cutoff,),
                    ).fetchall()
                    conn.execute("DELETE FROM events WHERE started_at < ?", (cutoff,))
                deleted = len(rows)
                for snap, size, pruned in rows:
                    if snap and not pruned:
                        files.append(self.root / snap)
                        freed += int(size)
                        removed += 1
            if self.cfg.max_bytes is not None:
                total = self._sum_snapshot_bytes()
                if total > self.cfg.max_bytes:
                    with self.transaction() as conn:
                        cur = conn.execute(
                            "SELECT id, snapshot, snapshot_bytes FROM events "
                            "WHERE snapshot IS NOT NULL AND snapshot_pruned = 0 ORDER BY started_at, id"
                        )
                        victims: list[str] = []
                        for eid, snap, size in cur:
                            if total <= self.cfg.max_bytes:
                                break
                            victims.append(eid)
                            files.append(self.root / snap)
                            total -= int(size)
                            freed += int(size)
                            removed += 1
                        conn.executemany(
                            "UPDATE events SET snapshot_pruned = 1 WHERE id = ?", [(v,) for v in victims]
                        )
            # Rows are committed first: a crash here leaves orphan files (harmless), never dangling rows.
            for f in files:
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
            self._snapshot_total = self._sum_snapshot_bytes()
        self._remove_empty_days()
        return PruneReport(events_deleted=deleted, snapshots_removed=removed, bytes_freed=freed)

    def _remove_empty_days(self) -> None:
        if not self.snapshots_dir.is_dir():
            return
        for day in self.snapshots_dir.iterdir():
            if day.is_dir():
                with contextlib.suppress(OSError):
                    day.rmdir()  # only succeeds when empty

    # ------------------------------------------------------------------ reading
    def _record(self, row: tuple[Any, ...]) -> EventRecord:
        body, snap, size, pruned = row
        try:
            data = json.loads(body)
            data["snapshot"] = snap if snap and not pruned else None
            event = Event.model_validate(data)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"event store {self.db_path}: a stored event is unreadable: {exc}") from None
        file = self.root / snap if snap and not pruned else None
        return EventRecord(
            event=event, snapshot_file=file, snapshot_bytes=int(size), snapshot_pruned=bool(pruned)
        )

    def get(self, event_id: str) -> EventRecord | None:
        """The stored event with this id, or None."""
        with self._lock, self._guard():
            row = self._conn.execute(f"{_SELECT} WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else self._record(row)

    def resolve_id(self, fragment: str) -> str | None:
        """The one event id that starts or ends with ``fragment`` (>= 4 characters), or None.

        ULIDs made in the same millisecond share their start and differ at the end, so the CLI
        shows and accepts either end. None when nothing or more than one id matches.
        """
        frag = fragment.strip().lstrip("…").lstrip(".").upper()
        if len(frag) < 4 or not frag.isalnum():
            return None
        with self._lock, self._guard():
            rows = self._conn.execute(
                "SELECT id FROM events WHERE id LIKE ? OR id LIKE ? LIMIT 2", (frag + "%", "%" + frag)
            ).fetchall()
        return str(rows[0][0]) if len(rows) == 1 else None

    def _where(
        self, kind: str | None, source: str | None, since: float | None, until: float | None
    ) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for col, val, op in (("kind", kind, "="), ("source_id", source, "="), ("started_at", since, ">=")):
            if val is not None:
                clauses.append(f"{col} {op} ?")
                args.append(val)
        if until is not None:
            clauses.append("started_at < ?")
            args.append(until)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def list(
        self,
        kind: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = 100,
    ) -> list[EventRecord]:
        """Events newest first, filtered by kind, source and start time (UNIX s, ``since <= t < until``)."""
        return list(self.iter(kind=kind, source=source, since=since, until=until, limit=limit))

    def iter(
        self,
        kind: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> Iterator[EventRecord]:
        """Like :meth:`list` but streamed in batches (for exports of any size)."""
        where, args = self._where(kind, source, since, until)
        order = "DESC" if newest_first else "ASC"
        sql = f"{_SELECT}{where} ORDER BY started_at {order}, id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._lock, self._guard():
            rows = self._conn.execute(sql, args).fetchall() if limit is not None else None
        if rows is not None:
            yield from (self._record(r) for r in rows)
            return
        # Unlimited: page by keyset so memory stays bounded and the lock is not held while yielding.
        last: tuple[float, str] | None = None
        cmp = "<" if newest_first else ">"
        while True:
            page_where, page_args = where, list(args)
            if last is not None:
                page_where += (" AND " if page_where else " WHERE ") + f"(started_at, id) {cmp} (?, ?)"
                page_args += [last[0], last[1]]
            with self._lock, self._guard():
                page = self._conn.execute(
                    f"SELECT body, snapshot, snapshot_bytes, snapshot_pruned, started_at, id FROM events{page_where} "
                    f"ORDER BY started_at {order}, id {order} LIMIT 500",
                    page_args,
                ).fetchall()
            if not page:
                return
            for r in page:
                yield self._record(r[:4])
            last = (page[-1][4], page[-1][5])

    def count(self, kind: str | None = None, source: str | None = None, since: float | None = None) -> int:
        where, args = self._where(kind, source, since, None)
        with self._lock, self._guard():
            return int(self._conn.execute(f"SELECT count(*) FROM events{where}", args).fetchone()[0])

    def counts_by_kind(self, source: str | None = None, since: float | None = None) -> dict[str, int]:
        """Number of events per kind (optionally for one source / since a UNIX time)."""
        where, args = self._where(None, source, since, None)
        with self._lock, self._guard():
            rows = self._conn.execute(
                f"SELECT kind, count(*) FROM events{where} GROUP BY kind ORDER BY kind", args
            ).fetchall()
        return {str(k): int(n) for k, n in rows}
