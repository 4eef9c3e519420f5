"""Topics, message classes and the JSON payloads the uplink sends (documented in docs/uplink.md).

Every payload is a JSON object with a ``schema`` field (``"edgesight.<kind>.v<N>"``) and a ``message_id``
that stays the same across retransmissions, so a receiver de-duplicates on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ulid import ULID

from edgesight.errors import EdgesightError
from edgesight.types import Event

__all__ = [
    "CHANNELS",
    "PRIORITY",
    "SCHEMAS",
    "MessageClass",
    "OutboxMessage",
    "UplinkError",
    "event_message",
    "status_payload",
    "telemetry_message",
    "topic",
    "twin_reported_message",
]

MessageClass = Literal["alert", "event", "twin", "telemetry"]

#: Lower number = sent first. Alerts before events before twin reports before routine telemetry.
PRIORITY: dict[str, int] = {"alert": 0, "event": 1, "twin": 2, "telemetry": 3}

#: Topic suffix below ``{prefix}/{device_id}/`` for each channel.
CHANNELS = ("events", "telemetry", "twin/reported", "twin/desired", "deployments", "status")

SCHEMAS = {
    "event": "edgesight.event.v1",
    "telemetry": "edgesight.telemetry.v1",
    "twin_reported": "edgesight.twin.reported.v1",
    "status": "edgesight.status.v1",
}


class UplinkError(EdgesightError):
    """The uplink cannot do what was asked (bad settings, oversized message, unusable TLS files)."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message waiting in the outbox.

    Attributes:
        message_id: idempotency key; enqueueing the same id twice stores it once.
        msg_class: alert | event | twin | telemetry (sets priority and TTL).
        channel: topic suffix, e.g. ``events`` (the uplink adds ``{prefix}/{device_id}/``).
        payload: the exact bytes published (UTF-8 JSON).
    """

    message_id: str
    msg_class: MessageClass
    channel: str
    payload: bytes


def topic(prefix: str, device_id: str, channel: str) -> str:
    """``edgesight/v1/{device_id}/{channel}``."""
    return f"{prefix}/{device_id}/{channel}"


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def event_message(
    event: Event, msg_class: MessageClass = "event", enqueued_at: float | None = None
) -> OutboxMessage:
    """Wrap an Event (one lifecycle state) for the ``events`` channel; message_id = ``"<ulid>:<seq>"``."""
    body = {
        "schema": SCHEMAS["event"],
        "message_id": event.message_id,
        "device_id": event.device_id,
        "class": msg_class,
        "enqueued_at": time.time() if enqueued_at is None else enqueued_at,
        "event": event.model_dump(mode="json"),
    }
    try:
        payload = _dumps(body)
    except ValueError as exc:  # NaN/inf in attributes
        raise UplinkError(
            f"event {event.message_id}: cannot encode as JSON ({exc}); expected finite numbers"
        ) from None
    return OutboxMessage(event.message_id, msg_class, "events", payload)


def telemetry_message(device_id: str, metrics: Mapping[str, Any], ts: float | None = None) -> OutboxMessage:
    """Routine telemetry (fps, queue depths, counters...): lowest priority. ``metrics`` is copied, not kept."""
    mid = str(ULID())
    now = time.time() if ts is None else ts
    body = {
        "schema": SCHEMAS["telemetry"],
        "message_id": mid,
        "device_id": device_id,
        "ts": now,
        "metrics": dict(metrics),
    }
    try:
        payload = _dumps(body)
    except (TypeError, ValueError) as exc:
        raise UplinkError(f"telemetry: metrics must be JSON numbers/strings/lists/dicts ({exc})") from None
    return OutboxMessage(mid, "telemetry", "telemetry", payload)


def twin_reported_message(
    device_id: str, reported: Mapping[str, Any], version: int | None = None
) -> OutboxMessage:
    """A twin ``reported`` patch (JSON merge patch semantics, null deletes), with the desired version it answers."""
    mid = str(ULID())
    body = {
        "schema": SCHEMAS["twin_reported"],
        "message_id": mid,
        "device_id": device_id,
        "ts": time.time(),
        "desired_version": version,
        "reported": dict(reported),
    }
    try:
        payload = _dumps(body)
    except (TypeError, ValueError) as exc:
        raise UplinkError(f"twin reported: not JSON-serialisable ({exc})") from None
    return OutboxMessage(mid, "twin", "twin/reported", payload)


def status_payload(
    device_id: str, state: Literal["online", "offline"], version: str, extra: Mapping[str, Any] | None = None
) -> bytes:
    """Retained status (the last will is the ``offline`` one)."""
    body: dict[str, Any] = {
        "schema": SCHEMAS["status"],
        "device_id": device_id,
        "state": state,
        "version": version,
        "ts": time.time(),
    }
    if extra:
        body.update(extra)
    return _dumps(body)
