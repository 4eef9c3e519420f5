"""`edgesight events list|show|export|stats` against real stores, and their error paths."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgesight.cli import main
from edgesight.config import StoreConfig
from edgesight.store import EventStore
from edgesight.store.commands import parse_since, stream_time
from edgesight.types import Event

T0 = 1_790_000_000.0


def make_store(root: Path) -> list[Event]:
    st = EventStore(StoreConfig(path=root, max_age_days=None))
    out = []
    for i, kind in enumerate(["zone_enter", "dwell", "line_cross", "dwell"]):
        e = Event(
            source_id=f"cam{i % 2}",
            kind=kind,
            rule="dock",
            zone="dock",
            start_pts=float(i),
            started_at=T0 + i,
            updated_at=T0 + i,
            track_id=i,
            class_name="person",
            confidence=0.5 + i / 10,
            box=[1.0, 2.0, 3.0, 4.0],
            attributes={"i": i},
        )
        out.append(st.save(e, b"\xff\xd8fake-jpeg\xff\xd9" if i % 2 else None))
    st.close()
    return out


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_list_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = make_store(tmp_path / "d")
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = cli(["events", "list", "--store", str(tmp_path / "d")], capsys)
    assert code == 0 and "4 of 4 event(s)" in out
    assert "line_cross" in out and "0.70" in out and events[3].id in out and "cam1" in out
    monkeypatch.setenv("COLUMNS", "80")  # narrow: ids shortened to their (unique) end
    code, out, _ = cli(["events", "list", "--store", str(tmp_path / "d")], capsys)
    assert code == 0 and events[3].id not in out and "…" + events[3].id[-8:] in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "0:03.0" in out and "person #3" in out  # stream time (where to seek) and the object
    code, out, _ = cli(
        ["events", "list", "--store", str(tmp_path / "d"), "--kind", "dwell", "--json"], capsys
    )
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [events[3].id, events[1].id]
    assert rows[0]["snapshot_file"].endswith(f"{events[3].id}.jpg") and rows[0]["snapshot_pruned"] is False
    code, out, _ = cli(
        ["events", "list", "-s", str(tmp_path / "d"), "--source", "cam0", "--since", str(T0 + 1), "--json"],
        capsys,
    )
    assert [r["id"] for r in json.loads(out)] == [events[2].id]
    code, out, _ = cli(["events", "list", "-s", str(tmp_path / "d"), "-n", "1", "--json"], capsys)
    assert len(json.loads(out)) == 1


def test_show_by_id_and_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = make_store(tmp_path / "d")
    code, out, _ = cli(["events", "show", events[1].id[-8:], "-s", str(tmp_path / "d"), "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["id"] == events[1].id and d["attributes"] == {"i": 1}
    assert Path(d["snapshot_file"]).read_bytes().startswith(b"\xff\xd8")
    code, out, _ = cli(["events", "show", events[0].id, "-s", str(tmp_path / "d")], capsys)
    assert code == 0 and "zone_enter" in out and "snapshot_file" in out
    code, _, err = cli(["events", "show", "NOPE1234", "-s", str(tmp_path / "d")], capsys)
    assert code == 2 and "no single event" in err


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    events = make_store(tmp_path / "d")
    target = tmp_path / f"out.{fmt}"
    code, _, err = cli(["events", "export", "-s", str(tmp_path / "d"), "-f", fmt, "-o", str(target)], capsys)
    assert code == 0 and "wrote 4 event(s)" in err
    text = target.read_text()
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert [r["id"] for r in rows] == [e.id for e in events]  # oldest first
        assert (
            Event.model_validate({k: v for k, v in rows[1].items() if k in Event.model_fields}) == events[1]
        )
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["id"] for r in rows] == [e.id for e in events]
        assert rows[2]["kind"] == "line_cross" and json.loads(rows[2]["attributes"]) == {"i": 2}
    code, out, _ = cli(["events", "export", "-s", str(tmp_path / "d"), "--kind", "dwell"], capsys)
    assert len(out.splitlines()) == 2


def test_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_store(tmp_path / "d")
    code, out, _ = cli(["events", "stats", "-s", str(tmp_path / "d"), "--json"], capsys)
    assert code == 0
    assert json.loads(out) == {"counts": {"dwell": 2, "line_cross": 1, "zone_enter": 1}, "snapshot_bytes": 26}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "list", "--store", "{tmp}/missing"], "event store not found"),
        (["events", "list", "--store", "{tmp}/d", "--since", "yesterday"], "--since: expected a duration"),
        (["events", "export", "--store", "{tmp}/d", "--format", "xml"], "--format: expected jsonl or csv"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    make_store(tmp_path / "d")
    code, _, err = cli([a.replace("{tmp}", str(tmp_path)) for a in args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_corrupt_store_no_traceback(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "events.db").write_bytes(bytes(range(256)) * 64)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from edgesight.cli import main; main()",
            "events",
            "list",
            "--store",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "not a readable event store" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", T0 - 1800),
        ("2h", T0 - 7200),
        ("7d", T0 - 7 * 86400),
        ("1.5s", T0 - 1.5),
        ("2026-09-21T00:00:00Z", 1_789_948_800.0),
        ("2026-09-21", 1_789_948_800.0),
        ("2026-09-21T02:00:00+02:00", 1_789_948_800.0),
        ("1789948800", 1_789_948_800.0),
    ],
)
def test_parse_since(text: str, expected: float) -> None:
    assert parse_since(text, T0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0:00.0"),
        (2.04, "0:02.0"),
        (59.96, "1:00.0"),
        (170.0, "2:50.0"),
        (3723.46, "1:02:03.5"),
        (-1, "0:00.0"),
    ],
)
def test_stream_time(seconds: float, text: str) -> None:
    assert stream_time(seconds) == text
