"""The Uplink facade the runner uses: one outbox + one MQTT link for one device."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgesight.config import UplinkConfig
from edgesight.types import Event
from edgesight.uplink.messages import (
    MessageClass,
    OutboxMessage,
    event_message,
    telemetry_message,
    twin_reported_message,
)
from edgesight.uplink.mqtt_link import MessageHandler, MqttLink, build_tls_context
from edgesight.uplink.outbox import Outbox, OutboxStats
from edgesight.uplink.snapshots import SnapshotUploader

__all__ = ["Uplink"]


class Uplink:
    """Offline-first uplink for one device: durable outbox in the store's database + MQTT link.

    Enqueueing never talks to the network and never blocks on it: a dead broker only means messages
    wait in the outbox. Create with :meth:`from_config`; ``start()`` begins sending, ``stop()`` ends it.
    """

    def __init__(
        self,
        config: UplinkConfig,
        db_path: str | Path,
        device_id: str,
        on_message: MessageHandler | None = None,
        version: str | None = None,
    ) -> None:
        from edgesight import __version__

        self.config = config
        self.db_path = Path(db_path)
        self.device_id = device_id
        tls = build_tls_context(config)  # bad TLS files are refused here, before anything starts
        self.outbox = Outbox(self.db_path, config.outbox)
        self.link = MqttLink(config, self.db_path, device_id, version or __version__, on_message, tls)
        self.uploader: SnapshotUploader | None = (
            SnapshotUploader(config.snapshots, self.db_path, device_id)
            if config.snapshots is not None
            else None
        )

    @classmethod
    def from_config(
        cls,
        config: UplinkConfig,
        store_db_path: str | Path,
        device_id: str,
        on_message: MessageHandler | None = None,
    ) -> Uplink:
        """Build from the pipeline's ``uplink:`` section; the outbox tables go into ``store_db_path``."""
        return cls(config, store_db_path, device_id, on_message)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the background sender (returns at once; connection errors are logged and retried)."""
        self.link.start()
        if self.uploader is not None:
            self.uploader.start()

    def stop(self, timeout: float = 5.0, drain_seconds: float = 2.0) -> None:
        """Send what is queued (up to ``drain_seconds``, only while connected), publish 'offline',
        disconnect and close the outbox. Whatever is still queued stays for the next start."""
        end = time.monotonic() + drain_seconds
        while self.link.connected and time.monotonic() < end:
            s = self.outbox.stats()
            if s.total_depth - s.held <= 0:
                break
            time.sleep(0.05)
        self.link.stop(timeout)
        if self.uploader is not None:
            self.uploader.close()
        self.outbox.close()

    def __enter__(self) -> Uplink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ enqueue
    def classify(self, event: Event) -> MessageClass:
        """'alert' for events whose kind is in ``alert_kinds`` or rule in ``alert_rules``, else 'event'."""
        if event.kind in self.config.alert_kinds or event.rule in self.config.alert_rules:
            return "alert"
        return "event"

    def event_message(self, event: Event) -> OutboxMessage:
        return event_message(event, self.classify(event))

    def enqueue_event(self, conn: sqlite3.Connection, event: Event) -> bool:
        """Queue ``event`` inside the caller's open transaction on ``conn`` (the event store's, same file).

        Use as ``store.save(event, snapshot, also=lambda conn: uplink.enqueue_event(conn, event))`` so
        the event row and its outbox row commit together. Returns False for an already-queued message id.
        """
        return self.outbox.enqueue_in(
            conn, self.event_message(event), max_message_bytes=self.config.max_message_bytes
        )

    def enqueue_telemetry(self, metrics: Mapping[str, Any]) -> bool:
        """Queue routine telemetry (lowest priority) in its own transaction."""
        msg = telemetry_message(self.device_id, metrics)
        return self.outbox.enqueue(msg, max_message_bytes=self.config.max_message_bytes)

    def enqueue_twin_reported(self, reported: Mapping[str, Any], desired_version: int | None = None) -> bool:
        """Queue a twin ``reported`` patch."""
        msg = twin_reported_message(self.device_id, reported, desired_version)
        return self.outbox.enqueue(msg, max_message_bytes=self.config.max_message_bytes)

    def offer_snapshot(self, event: Event, jpeg: bytes) -> bool:
        """Hand an event's stored snapshot to the uploader (if configured); True if it was queued."""
        return self.uploader.offer_event(event, jpeg) if self.uploader is not None else False

    # ------------------------------------------------------------------ status
    def stats(self) -> OutboxStats:
        return self.outbox.stats()

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def last_error(self) -> str | None:
        return self.link.last_error
