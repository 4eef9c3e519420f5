"""Durable outbox in SQLite (WAL): per-priority FIFO, TTL per class, byte quota, idempotent message ids.

The tables live in the event store's own database file, so an event row and its outbox row are
written in ONE transaction (``Outbox.enqueue_in(conn, msg)`` inside ``EventStore.save(..., also=...)``):
a crash can never leave an event stored but not queued, or queued but not stored.

Tables (created on open, idempotent):

* ``outbox``: one row per message: ``seq`` (insertion order), ``message_id`` (UNIQUE), ``priority``
  (0 alert .. 3 telemetry), ``class``, ``channel``, ``payload`` (bytes published), ``bytes``,
  ``created_at``/``expires_at`` (UNIX s), ``held`` (1 = oversized, kept but not sent).
* ``outbox_totals``: messages and bytes per priority, kept exact by triggers (O(1) quota checks).
* ``outbox_counters``: monotonic counters: ``enqueued:<class>``, ``duplicate:<class>``, ``sent:<class>``,
  ``dropped_quota:<class>``, ``dropped_ttl:<class>``, ``held:<class>``.
* ``uplink_state``: last connection state/error written by the uplink (read by ``edgesight outbox status``).

Quota policy when full: drop the OLDEST message of the LOWEST priority first (telemetry before twin
reports before events before alerts), repeat until the total is within quota; every drop is counted.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesight.config import OutboxConfig
from edgesight.uplink.messages import PRIORITY, OutboxMessage, UplinkError

__all__ = ["Outbox", "OutboxRow", "OutboxStats"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    priority INTEGER NOT NULL,
    class TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    held INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox(held, priority, seq);
CREATE INDEX IF NOT EXISTS outbox_expiry ON outbox(expires_at);
CREATE INDEX IF NOT EXISTS outbox_drop ON outbox(priority DESC, seq ASC);
CREATE TABLE IF NOT EXISTS outbox_totals (
    priority INTEGER PRIMARY KEY,
    messages INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS outbox_totals_ins AFTER INSERT ON outbox BEGIN
    INSERT INTO outbox_totals(priority, messages, bytes) VALUES (new.priority, 1, new.bytes)
    ON CONFLICT(priority) DO UPDATE SET messages = messages + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS outbox_totals_del AFTER DELETE ON outbox BEGIN
    UPDATE outbox_totals SET messages = messages - 1, bytes = bytes - old.bytes WHERE priority = old.priority;
END;
CREATE TABLE IF NOT EXISTS outbox_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS uplink_state (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""

log = logging.getLogger("edgesight.uplink")

_OBJECTS = {
    "outbox",
    "outbox_totals",
    "outbox_counters",
    "uplink_state",
    "outbox_totals_ins",
    "outbox_totals_del",
    "outbox_order",
    "outbox_expiry",
    "outbox_drop",
}

_CLASS_OF_PRIORITY = {v: k for k, v in PRIORITY.items()}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored message as read back for sending. ``seq`` orders messages within a priority."""

    seq: int
    message_id: str
    msg_class: str
    channel: str
    payload: bytes
    created_at: float


@dataclass(frozen=True)
class OutboxStats:
    """A snapshot of the outbox. Ages in seconds, sizes in payload bytes."""

    depth: dict[str, int]
    bytes: dict[str, int]
    oldest_age_seconds: dict[str, float | None]
    held: int
    quota_bytes: int
    counters: dict[str, int]
    uplink: dict[str, str | None] = field(default_factory=dict)
    uploads: dict[str, int] = field(default_factory=dict)

    @property
    def total_depth(self) -> int:
        return sum(self.depth.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def counter(self, prefix: str) -> int:
        """Sum of counters ``prefix:<class>`` over classes (e.g. ``dropped_quota``)."""
        return sum(v for k, v in self.counters.items() if k.split(":", 1)[0] == prefix)

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "bytes": self.bytes,
            "oldest_age_seconds": self.oldest_age_seconds,
            "total_depth": self.total_depth,
            "total_bytes": self.total_bytes,
            "quota_bytes": self.quota_bytes,
            "held": self.held,
            "dropped_quota": self.counter("dropped_quota"),
            "dropped_ttl": self.counter("dropped_ttl"),
            "sent": self.counter("sent"),
            "enqueued": self.counter("enqueued"),
            "counters": self.counters,
            "uplink": self.uplink,
            "uploads": self.uploads,
        }


def connect(path: str | Path, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open the database in WAL mode with a busy timeout (autocommit; transactions are explicit)."""
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(p), timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.DatabaseError as exc:
        raise UplinkError(
            f"outbox database {p}: cannot open ({exc}); expected an SQLite file or a new path"
        ) from None
    return conn


class Outbox:
    """The durable message queue. One instance per thread is the simple rule (each holds a connection).

    Args:
        path: SQLite file (normally the event store's ``events.db``); created if missing.
        config: quota and TTLs (defaults: 256 MiB, 7 days for every class).
        synchronous: SQLite ``synchronous`` pragma: FULL survives power loss, NORMAL only process crashes.
    """

    def __init__(
        self, path: str | Path, config: OutboxConfig | None = None, synchronous: str = "FULL"
    ) -> None:
        self.path = Path(path)
        self._explicit_config = config is not None  # readers (CLI) pass none and show the writer's quota
        self.config = config or OutboxConfig.model_validate({})
        self._lock = threading.RLock()
        self._conn = connect(self.path, synchronous)
        try:
            # read first: a second opener must not queue for the write lock behind a busy writer
            have = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master")}
            if not have >= _OBJECTS:
                self._conn.executescript(_SCHEMA)
            if self._explicit_config:
                row = self._conn.execute(
                    "SELECT value FROM uplink_state WHERE key = 'quota_bytes'"
                ).fetchone()
                if row is None or row[0] != str(self.config.max_bytes):
                    self.set_state(quota_bytes=self.config.max_bytes)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise UplinkError(f"outbox database {self.path}: cannot create tables ({exc})") from None

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def ensure_schema(conn: sqlite3.Connection) -> None:
        """Create the outbox tables in ``conn``'s database (for a store that owns the connection)."""
        conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on this outbox's own connection."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ writing
    def ttl_seconds(self, msg_class: str) -> float:
        c = self.config
        return {
            "alert": c.alert_ttl_seconds,
            "event": c.event_ttl_seconds,
            "twin": c.twin_ttl_seconds,
            "telemetry": c.telemetry_ttl_seconds,
        }[msg_class]

    def enqueue_in(
        self,
        conn: sqlite3.Connection,
        msg: OutboxMessage,
        now: float | None = None,
        max_message_bytes: int | None = None,
    ) -> bool:
        """Add ``msg`` inside the CALLER's open transaction on ``conn`` (same database file); no commit here.

        Returns False when a message with the same id is already queued (idempotent). A payload larger
        than ``max_message_bytes`` is stored ``held`` (kept, counted, not sent). Enforces the quota.
        """
        if msg.msg_class not in PRIORITY:
            raise UplinkError(
                f"outbox: unknown message class {msg.msg_class!r}; expected one of {sorted(PRIORITY)}"
            )
        t = time.time() if now is None else now
        n = len(msg.payload)
        held = int(max_message_bytes is not None and n > max_message_bytes)
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox(message_id, priority, class, channel, payload, bytes, created_at, expires_at, held)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg.message_id,
                PRIORITY[msg.msg_class],
                msg.msg_class,
                msg.channel,
                msg.payload,
                n,
                t,
                t + self.ttl_seconds(msg.msg_class),
                held,
            ),
        )
        if cur.rowcount == 0:
            _bump(conn, f"duplicate:{msg.msg_class}")
            return False
        _bump(conn, f"enqueued:{msg.msg_class}")
        if held:
            _bump(conn, f"held:{msg.msg_class}")
            log.warning(
                "outbox: %s message %s is %d bytes, over uplink.max_message_bytes (%d): held in the outbox "
                "(kept, not sent) until the limit is raised",
                msg.msg_class,
                msg.message_id,
                n,
                max_message_bytes,
            )
        self._enforce_quota(conn)
        return True

    def enqueue(
        self, msg: OutboxMessage, now: float | None = None, max_message_bytes: int | None = None
    ) -> bool:
        """Add one message in its own transaction (durable when this returns)."""
        with self.transaction() as conn:
            return self.enqueue_in(conn, msg, now, max_message_bytes)

    def enqueue_many(
        self, msgs: Iterable[OutboxMessage], now: float | None = None, max_message_bytes: int | None = None
    ) -> int:
        """Add many messages in one transaction; returns how many were new."""
        with self.transaction() as conn:
            return sum(self.enqueue_in(conn, m, now, max_message_bytes) for m in msgs)

    def _enforce_quota(self, conn: sqlite3.Connection) -> None:
        total = conn.execute("SELECT COALESCE(SUM(bytes), 0) FROM outbox_totals").fetchone()[0]
        excess = int(total) - self.config.max_bytes
        while excess > 0:
            rows = conn.execute(
                "SELECT seq, class, bytes FROM outbox ORDER BY priority DESC, seq ASC LIMIT 256"
            ).fetchall()
            if not rows:
                break
            doomed: list[int] = []
            for seq, cls, nbytes in rows:
                doomed.append(seq)
                _bump(conn, f"dropped_quota:{cls}")
                excess -= nbytes
                if excess <= 0:
                    break
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in doomed])

    # ------------------------------------------------------------------ reading / sending
    def peek(self, limit: int, exclude: Sequence[int] = (), now: float | None = None) -> list[OutboxRow]:
        """Up to ``limit`` sendable messages in send order (priority, then FIFO), skipping ``exclude`` seqs."""
        t = time.time() if now is None else now
        ex = list(exclude)
        sql = "SELECT seq, message_id, class, channel, payload, created_at FROM outbox WHERE held = 0 AND expires_at > ?"
        if ex:
            sql += f" AND seq NOT IN ({','.join('?' * len(ex))})"
        sql += " ORDER BY held, priority, seq LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (t, *ex, limit)).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def get(self, seq: int, now: float | None = None) -> OutboxRow | None:
        """One sendable message by seq (None if gone, held or expired)."""
        t = time.time() if now is None else now
        with self._lock:
            r = self._conn.execute(
                "SELECT seq, message_id, class, channel, payload, created_at FROM outbox "
                "WHERE seq = ? AND held = 0 AND expires_at > ?",
                (seq, t),
            ).fetchone()
        return None if r is None else OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5])

    def ack(self, seqs: Sequence[int]) -> int:
        """Delete messages the broker acknowledged (PUBACK); returns how many were still there."""
        if not seqs:
            return 0
        with self.transaction() as conn:
            q = ",".join("?" * len(seqs))
            rows = conn.execute(
                f"SELECT class, COUNT(*) FROM outbox WHERE seq IN ({q}) GROUP BY class", list(seqs)
            ).fetchall()
            conn.execute(f"DELETE FROM outbox WHERE seq IN ({q})", list(seqs))
            for cls, n in rows:
                _bump(conn, f"sent:{cls}", n)
            return sum(n for _, n in rows)

    def try_ack(self, seqs: Sequence[int], wait_ms: int = 20) -> int | None:
        """Like :meth:`ack` but gives up (returns None) if another writer holds the database longer than
        ``wait_ms``: SQLite's busy handler is not fair, and a busy writer on the same file could otherwise
        stall the sender. The caller keeps the seqs and tries again."""
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
            try:
                return self.ack(seqs)
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return None
                raise
            finally:
                self._conn.execute("PRAGMA busy_timeout=30000")

    def expire(self, now: float | None = None) -> int:
        """Delete messages past their TTL (counted as ``dropped_ttl:<class>``); returns how many."""
        t = time.time() if now is None else now
        with self._lock:
            if not self._conn.execute("SELECT 1 FROM outbox WHERE expires_at <= ? LIMIT 1", (t,)).fetchone():
                return 0  # the common case needs no write lock
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT class, COUNT(*) FROM outbox WHERE expires_at <= ? GROUP BY class", (t,)
            ).fetchall()
            if rows:
                conn.execute("DELETE FROM outbox WHERE expires_at <= ?", (t,))
                for cls, n in rows:
                    _bump(conn, f"dropped_ttl:{cls}", n)
            return sum(n for _, n in rows)

    def release_held(self, max_message_bytes: int) -> int:
        """Make held (oversized) messages sendable again if they now fit (the limit was raised)."""
        with self._lock:
            if not self._conn.execute(
                "SELECT 1 FROM outbox WHERE held = 1 AND bytes <= ? LIMIT 1", (max_message_bytes,)
            ).fetchone():
                return 0
        with self.transaction() as conn:
            return conn.execute(
                "UPDATE outbox SET held = 0 WHERE held = 1 AND bytes <= ?", (max_message_bytes,)
            ).rowcount

    def hold(self, seq: int) -> None:
        """Park one message (e.g. the broker cannot take it); it stays stored and counted."""
        with self.transaction() as conn:
            row = conn.execute("SELECT class FROM outbox WHERE seq = ? AND held = 0", (seq,)).fetchone()
            if row:
                conn.execute("UPDATE outbox SET held = 1 WHERE seq = ?", (seq,))
                _bump(conn, f"held:{row[0]}")

    # ------------------------------------------------------------------ state
    def set_state(self, **values: str | float | int | None) -> bool:
        """Record uplink state (``connected``, ``last_error``...) for ``edgesight outbox status``.

        Best effort: informational only, so it waits at most 200 ms for a busy database (returns False)."""
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout=200")
            try:
                with self.transaction() as conn:
                    conn.executemany(
                        "INSERT INTO uplink_state(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        [(k, None if v is None else str(v)) for k, v in values.items()],
                    )
                return True
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                raise
            finally:
                self._conn.execute("PRAGMA busy_timeout=30000")

    def stats(self, now: float | None = None) -> OutboxStats:
        t = time.time() if now is None else now
        depth = dict.fromkeys(PRIORITY, 0)
        nbytes = dict.fromkeys(PRIORITY, 0)
        oldest: dict[str, float | None] = dict.fromkeys(PRIORITY, None)
        with self._lock:
            for prio, msgs, b in self._conn.execute("SELECT priority, messages, bytes FROM outbox_totals"):
                cls = _CLASS_OF_PRIORITY.get(prio, str(prio))
                depth[cls], nbytes[cls] = int(msgs), int(b)
            for cls, prio in PRIORITY.items():
                row = self._conn.execute(
                    "SELECT created_at FROM outbox WHERE priority = ? ORDER BY seq LIMIT 1", (prio,)
                ).fetchone()
                oldest[cls] = None if row is None else max(0.0, t - row[0])
            held = self._conn.execute("SELECT COUNT(*) FROM outbox WHERE held = 1").fetchone()[0]
            counters = {k: int(v) for k, v in self._conn.execute("SELECT name, value FROM outbox_counters")}
            state: dict[str, str | None] = dict(
                self._conn.execute("SELECT key, value FROM uplink_state").fetchall()
            )
        quota = self.config.max_bytes
        if not self._explicit_config and (state.get("quota_bytes") or "").isdigit():
            quota = int(state["quota_bytes"] or 0)
        return OutboxStats(depth, nbytes, oldest, int(held), quota, counters, state, self._upload_stats())

    def _upload_stats(self) -> dict[str, int]:
        """Snapshot upload queue figures when the uploader's tables exist here (else empty)."""
        with self._lock:
            have = self._conn.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('upload_queue', 'upload_counters')"
            ).fetchone()[0]
            if have < 2:
                return {}
            q, qb = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM upload_queue"
            ).fetchone()
            c = dict(self._conn.execute("SELECT name, value FROM upload_counters").fetchall())
        return {
            "queued": int(q),
            "queued_bytes": int(qb),
            "sent": int(c.get("sent_items", 0)),
            "sent_bytes": int(c.get("sent_bytes", 0)),
            "skipped_over_budget": int(c.get("skipped_over_budget", 0)),
        }

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` result ('ok' when the file is sound)."""
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def message_ids(self) -> list[str]:
        """Every queued message id in send order (for tools and tests)."""
        with self._lock:
            return [
                r[0] for r in self._conn.execute("SELECT message_id FROM outbox ORDER BY held, priority, seq")
            ]


def _bump(conn: sqlite3.Connection, name: str, n: int = 1) -> None:
    conn.execute(
        "INSERT INTO outbox_counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, n),
    )
