"""End-to-end pipeline runs on the real video and model (skipped without ../shared/assets)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgesight.config import parse_config
from edgesight.pipeline.runner import Runner
from edgesight.store import EventStore

RULES = [
    {
        "type": "zone",
        "name": "plaza",
        "polygon": [[250, 135], [470, 125], [480, 300], [250, 250]],
        "events": ["enter", "exit", "dwell"],
        "dwell_seconds": 4,
    },
    {"type": "line", "name": "path_gate", "start": [230, 100], "end": [230, 250], "cooldown_seconds": 2},
]


def _cfg(assets: Path, store: Path, **extra: object) -> dict:
    return {
        "sources": [
            {"type": "file", "name": "street", "path": str(assets / "videos/pedestrians_480x360.avi")}
        ],
        "model": {
            "path": str(assets / "models/yolov8n_coco_fp32_640.onnx"),
            "classes": ["person"],
            "confidence": 0.3,
            "backend": {"type": "onnxruntime", "threads": 2},
        },
        "rules": RULES,
        "store": {"path": str(store)},
        **extra,
    }


def _kinds(events: list) -> Counter:
    return Counter(
        (e.kind, e.zone, e.attributes.get("direction")) for e in events if e.state in ("start",) or e.seq == 0
    )


@pytest.mark.slow
def test_zone_and_line_events_stable_across_runs(assets: Path, tmp_path: Path) -> None:
    runs = []
    for k in range(2):
        cfg = parse_config(_cfg(assets, tmp_path / f"store{k}"))
        res = Runner(cfg, max_frames=150).run()
        runs.append(res)
    a, b = (_kinds(r.events) for r in runs)
    assert a == b, "same video, same config: event counts must not change between runs"
    kinds = {k for k, _, _ in a}
    assert "line_cross" in kinds and "zone_enter" in kinds, a
    s = runs[0].summary
    assert s["frames"] == 150 and s["detector_runs"] == 150 and s["motion_skipped"] == 0
    store = EventStore.open(tmp_path / "store0")
    recs = store.list(limit=1000)
    assert len(recs) == sum(a.values())
    with_snap = [r for r in recs if r.event.snapshot]
    assert with_snap, "events must carry snapshots"
    for r in with_snap:
        assert (tmp_path / "store0" / r.event.snapshot).is_file()
    store.close()


def test_multi_source_in_one_pipeline(assets: Path, tmp_path: Path) -> None:
    cfg_d = _cfg(assets, tmp_path / "store")
    src = cfg_d["sources"][0]
    cfg_d["sources"] = [{**src, "name": f"cam{i}"} for i in range(4)]
    res = Runner(parse_config(cfg_d), max_frames=12).run()
    assert res.summary["frames"] == 48
    assert set(res.summary["sources"]) == {"cam0", "cam1", "cam2", "cam3"}
    assert all(s["frames"] == 12 for s in res.summary["sources"].values())


def test_run_cli_quick_mode_stores_object_events(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from edgesight.cli import main

    store = tmp_path / "s"
    main(
        [
            "run",
            "--source",
            str(assets / "videos/pedestrians_480x360.avi"),
            "--model",
            str(assets / "models/yolov8n_coco_fp32_640.onnx"),
            "--max-frames",
            "30",
            "--store",
            str(store),
            "--json",
            "--video",
            str(tmp_path / "out.avi"),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 30
    assert summary["events"].get("object", 0) >= 2, summary["events"]
    assert (tmp_path / "out.avi").stat().st_size > 10_000
    main(["events", "list", "--store", str(store), "--json"])
    listed = json.loads(capsys.readouterr().out)
    assert any(
        e["class_name"] == "person" for e in (listed if isinstance(listed, list) else listed["events"])
    )
