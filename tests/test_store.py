"""EventStore on real SQLite files: lifecycle upserts, snapshots, retention, transactions, corruption."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgesight.config import StoreConfig
from edgesight.store import EventStore, StoreError
from edgesight.types import Event

T0 = 1_790_000_000.0  # 2026-09-21, a fixed UNIX time (no wall clock in tests)


def jpeg(seed: int = 0, size: int = 64) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def ev(**kw) -> Event:
    base = {
        "source_id": "cam1",
        "kind": "dwell",
        "rule": "dock",
        "zone": "dock",
        "start_pts": 1.0,
        "started_at": T0,
        "updated_at": T0,
        "track_id": 3,
        "class_name": "person",
        "confidence": 0.8,
    }
    base.update(kw)
    return Event(**base)


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def store(tmp_path: Path, clock: Clock | None = None, **cfg) -> EventStore:
    return EventStore(StoreConfig(path=tmp_path / "data", **cfg), clock=clock or Clock())


def test_lifecycle_upsert_keeps_highest_seq_and_snapshot(tmp_path: Path) -> None:
    st = store(tmp_path)
    start = ev()
    update = start.model_copy(update={"seq": 1, "state": "update", "attributes": {"n": 1}})
    end = start.model_copy(update={"seq": 2, "state": "end", "end_pts": 9.0, "attributes": {"n": 2}})
    assert st.save(start).snapshot is None
    saved = st.save(update, jpeg(1))
    rel = f"snapshots/2026-09-21/{start.id}.jpg"
    assert saved.snapshot == rel and saved is not update and update.snapshot is None
    assert (st.root / rel).read_bytes() == jpeg(1)
    assert st.save(end).snapshot == rel  # no new JPEG: the earlier one stays referenced
    assert st.save(update).snapshot == rel  # a late, lower-seq duplicate...
    rec = st.get(start.id)
    assert rec is not None
    assert (rec.event.seq, rec.event.state, rec.event.end_pts, rec.event.attributes) == (
        2,
        "end",
        9.0,
        {"n": 2},
    )
    assert (
        rec.snapshot_file == st.root / rel and rec.snapshot_bytes == len(jpeg(1)) and not rec.snapshot_pruned
    )
    assert st.count() == 1 and st.snapshot_bytes == len(jpeg(1))
    # a better snapshot at the end replaces the file in place; the byte accounting follows
    st.save(end.model_copy(update={"seq": 3}), jpeg(2, 96))
    assert (st.root / rel).read_bytes() == jpeg(2, 96) and st.snapshot_bytes == len(jpeg(2, 96))
    assert not list((st.root / "snapshots").rglob("*.tmp"))


def test_wal_mode_and_indexes(tmp_path: Path) -> None:
    st = store(tmp_path)
    st.save(ev())
    conn = sqlite3.connect(st.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    idx = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"events_started", "events_kind_started", "events_source_started"} <= idx
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM events WHERE kind = 'x'"))
    assert "events_kind_started" in plan
    assert st._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_also_runs_in_the_same_transaction(tmp_path: Path) -> None:
    st = store(tmp_path)
    with st.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS outbox (msg TEXT PRIMARY KEY)")
    seen: dict[str, bool] = {}

    def enqueue(e: Event) -> object:
        def write(conn: sqlite3.Connection) -> None:
            # the snapshot file is on disk before the row referencing it commits
            seen["file"] = (st.root / st.snapshot_relpath(e)).is_file()
            conn.execute("INSERT INTO outbox VALUES (?)", (e.message_id,))

        return write

    good = ev()
    st.save(good, jpeg(), also=enqueue(good))  # type: ignore[arg-type]
    assert seen["file"]
    bad = ev()

    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO outbox VALUES (?)", (bad.message_id,))
        raise RuntimeError("outbox full")

    with pytest.raises(RuntimeError, match="outbox full"):
        st.save(bad, jpeg(), also=fail)
    other = sqlite3.connect(st.db_path)
    assert [r[0] for r in other.execute("SELECT msg FROM outbox")] == [good.message_id]
    assert st.get(bad.id) is None and st.get(good.id) is not None
    assert not (st.root / st.snapshot_relpath(bad)).exists()  # its file was removed again


def test_list_filters_order_and_counts(tmp_path: Path) -> None:
    st = store(tmp_path, max_age_days=None)
    kinds = ["dwell", "zone_enter", "line_cross"]
    for i in range(30):
        st.save(ev(kind=kinds[i % 3], source_id=f"cam{i % 2}", started_at=T0 + i, updated_at=T0 + i))
    recs = st.list(limit=5)
    assert [r.event.started_at for r in recs] == [T0 + 29 - k for k in range(5)]
    assert {r.event.kind for r in st.list(kind="dwell", limit=None)} == {"dwell"}
    assert len(st.list(kind="dwell", source="cam0", limit=None)) == 5
    assert [r.event.started_at for r in st.list(since=T0 + 27)] == [T0 + 29, T0 + 28, T0 + 27]
    assert st.counts_by_kind() == {"dwell": 10, "line_cross": 10, "zone_enter": 10}
    assert st.counts_by_kind(since=T0 + 28) == {"line_cross": 1, "zone_enter": 1}


def test_iter_pages_through_everything_in_order(tmp_path: Path) -> None:
    st = store(tmp_path, max_age_days=None)
    n = 1234
    with st.transaction() as conn:  # bulk insert for speed; save() is exercised elsewhere
        for i in range(n):
            e = ev(started_at=T0 + (i // 3), kind="k")
            conn.execute(
                "INSERT INTO events (id, seq, device_id, source_id, kind, state, rule, start_pts, started_at, "
                "updated_at, body) VALUES (?, 0, 'd', 's', 'k', 'start', 'r', 0, ?, ?, ?)",
                (e.id, e.started_at, e.started_at, e.model_dump_json()),
            )
    asc = [r.event for r in st.iter(newest_first=False)]
    desc = [r.event for r in st.iter()]
    assert len(asc) == len(desc) == n and len({e.id for e in asc}) == n
    assert [e.id for e in asc] == [e.id for e in reversed(desc)]
    assert all(a.started_at <= b.started_at for a, b in itertools.pairwise(asc))


def test_retention_by_age_deletes_rows_and_files(tmp_path: Path) -> None:
    clock = Clock(T0)
    st = store(tmp_path, clock, max_age_days=1.0, max_bytes=None)
    old = st.save(ev(started_at=T0 - 2 * 86400), jpeg(1))
    assert old.snapshot and st.get(old.id) is not None  # age passes run every few minutes, not per save
    clock.t = T0 + 301
    new = st.save(ev(started_at=T0 - 3600), jpeg(2))
    assert new.snapshot and st.get(old.id) is None
    assert not (st.root / old.snapshot).exists()
    clock.t = T0 + 86400
    report = st.prune()
    assert (report.events_deleted, report.snapshots_removed, report.bytes_freed) == (1, 1, len(jpeg(2)))
    assert st.count() == 0 and st.snapshot_bytes == 0
    assert not any((st.root / "snapshots").iterdir())  # empty day folders removed


def test_retention_by_bytes_prunes_oldest_snapshots_first(tmp_path: Path) -> None:
    size = len(jpeg(0))
    st = store(tmp_path, max_age_days=None, max_bytes=int(size * 3.5))
    saved = [st.save(ev(started_at=T0 + i, updated_at=T0 + i), jpeg(0)) for i in range(6)]
    assert st.snapshot_bytes <= size * 3.5
    recs = {r.event.id: r for r in st.list(limit=None)}
    pruned = [recs[e.id].snapshot_pruned for e in saved]
    assert pruned == [True, True, True, False, False, False]
    for e in saved[:3]:
        r = recs[e.id]
        assert r.snapshot_file is None and r.event.snapshot is None
        assert not (st.root / str(e.snapshot)).exists()
    for e in saved[3:]:
        assert (st.root / str(e.snapshot)).is_file()
    assert st.count() == 6  # rows stay
    # a fresh store over the same folder sees the same accounting
    assert EventStore(st.cfg).snapshot_bytes == st.snapshot_bytes


def test_reader_and_writer_at_once(tmp_path: Path) -> None:
    writer = store(tmp_path)
    writer.save(ev())
    reader = EventStore.open(writer.root)
    with writer.transaction() as conn:  # an open write transaction does not block WAL readers
        conn.execute("UPDATE events SET kind = 'x'")
        assert [r.event.kind for r in reader.list()] == ["dwell"]
    assert reader.counts_by_kind() == {"x": 1}
    with pytest.raises(StoreError, match="read-only"):
        reader.save(ev())


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x00garbage\xff" * 700, "not a readable event store"),
        (b"SQLite format 3\x00" + b"\x13" * 4000, "not a readable event store"),
        (b"", "not an edgesight event store"),
    ],
    ids=["garbage", "bad sqlite header", "empty file"],
)
@pytest.mark.parametrize("create", [True, False])
def test_corrupt_database_is_a_clear_error(tmp_path: Path, content: bytes, match: str, create: bool) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "events.db").write_bytes(content)
    if content == b"" and create:
        st = EventStore(StoreConfig(path=root))  # an empty file is a fresh database to a writer
        assert st.count() == 0
        return
    with pytest.raises(StoreError, match=match) as info:
        EventStore(StoreConfig(path=root), create=create)
    assert "\n" not in str(info.value) and "events.db" in str(info.value)


def test_foreign_sqlite_db_and_missing_store(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    sqlite3.connect(root / "events.db").execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not an edgesight event store"):
        EventStore.open(root)
    with pytest.raises(StoreError, match="event store not found"):
        EventStore.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=r"no events\.db"):
        EventStore.open(tmp_path / "empty")


def test_resolve_id_by_start_or_end(tmp_path: Path) -> None:
    st = store(tmp_path)
    a, b = st.save(ev()), st.save(ev())
    assert st.resolve_id(a.id[-8:]) == a.id and st.resolve_id("…" + b.id[-8:]) == b.id
    assert st.resolve_id(a.id[:5]) is None  # both share their time prefix
    assert st.resolve_id("%") is None and st.resolve_id("zz") is None


_WRITER = r"""
import sys, time
import numpy as np, cv2
from pathlib import Path
from edgesight.config import StoreConfig
from edgesight.store import EventStore
from edgesight.types import Event
st = EventStore(StoreConfig(path=Path(sys.argv[1]), max_age_days=None))
img = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
jpeg = cv2.imencode(".jpg", img)[1].tobytes()
n = int(sys.argv[2])
i = 0
while n <= 0 or i < n:
    e = Event(source_id="c", kind="k", rule="r", start_pts=0.0)
    st.save(e, jpeg)
    st.save(e.model_copy(update={"seq": 1, "state": "end"}))
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def _writer(root: Path, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), str(n)], stdout=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_reader_process_while_writer_process_writes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    proc = _writer(root, 100)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    reader = EventStore.open(root)
    seen = []
    while proc.poll() is None:
        seen.append(reader.count())
        for r in reader.list(limit=5):
            assert r.event.seq in (0, 1)
    assert proc.wait(timeout=60) == 0
    assert seen == sorted(seen) and len(seen) > 1  # never went back, read many times during writes
    assert reader.count() == 100 and reader.counts_by_kind() == {"k": 100}


@pytest.mark.slow
def test_kill_9_never_leaves_a_row_without_its_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "data"
    proc = _writer(root, 0)  # writes until killed
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    st = EventStore(StoreConfig(path=root, max_age_days=None))  # recovers the WAL
    recs = st.list(limit=None)
    assert len(recs) >= 20
    for r in recs:
        assert r.snapshot_file is not None
        img = cv2.imdecode(np.frombuffer(r.snapshot_file.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (120, 160, 3)
    assert st.snapshot_bytes == sum(r.snapshot_bytes for r in recs)


def test_nonsense_start_time_still_saves(tmp_path: Path) -> None:
    st = store(tmp_path, max_age_days=None)
    saved = st.save(ev(started_at=1e20), jpeg())
    assert saved.snapshot == f"snapshots/undated/{saved.id}.jpg" and (st.root / saved.snapshot).is_file()
