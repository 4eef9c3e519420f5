"""docs/uplink.md stays true: its YAML example loads, its JSON examples have the keys the code writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from edgesight.config import parse_config
from edgesight.types import Event
from edgesight.uplink.messages import (
    SCHEMAS,
    event_message,
    status_payload,
    telemetry_message,
    twin_reported_message,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "uplink.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def blocks(doc: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", doc, flags=re.S)


def test_yaml_example_is_a_valid_uplink_section(doc: str) -> None:
    data = yaml.safe_load(blocks(doc, "yaml")[0])
    data.update({"sources": [{"type": "file", "name": "cam", "path": "a.mp4"}], "model": {"path": "m.onnx"}})
    cfg = parse_config(data, "docs/uplink.md")
    assert cfg.uplink is not None and cfg.uplink.snapshots is not None
    assert cfg.uplink.url.startswith("mqtts://") and cfg.uplink.outbox.event_ttl_seconds == 7 * 86400


def test_json_examples_match_what_the_code_writes(doc: str) -> None:
    examples = {}
    for b in blocks(doc, "json"):
        d = json.loads(b)
        examples[d["schema"]] = d
    assert set(examples) == set(SCHEMAS.values())
    ev = Event.model_validate(examples["edgesight.event.v1"]["event"])
    real = {
        "edgesight.event.v1": json.loads(event_message(ev, "alert").payload),
        "edgesight.telemetry.v1": json.loads(telemetry_message("gate-3", {"fps": 9.8}).payload),
        "edgesight.twin.reported.v1": json.loads(twin_reported_message("gate-3", {"a": 1}, 7).payload),
        "edgesight.status.v1": json.loads(status_payload("gate-3", "online", "0.1.0", {"outbox_depth": 3})),
    }
    for schema, body in real.items():
        assert set(body) == set(examples[schema]), schema
    assert set(real["edgesight.event.v1"]["event"]) == set(examples["edgesight.event.v1"]["event"])
    assert examples["edgesight.event.v1"]["message_id"] == ev.message_id


def test_every_documented_topic_suffix_exists(doc: str) -> None:
    from edgesight.uplink.messages import CHANNELS

    for ch in CHANNELS:
        assert f"`{{prefix}}/{{device}}/{ch}`" in doc
