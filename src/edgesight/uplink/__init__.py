"""Offline-first uplink: durable outbox (SQLite WAL), MQTT link (QoS 1), budgeted snapshot upload.

The runner's API (see docs/uplink.md for topics, schemas and guarantees)::

    from edgesight.uplink import Uplink

    uplink = Uplink.from_config(cfg.uplink, store_db_path, cfg.device_id)  # refuses bad TLS files here
    uplink.start()                                   # background sender; never blocks on the network
    store.save(event, jpeg, also=lambda conn: uplink.enqueue_event(conn, event))  # one transaction
    uplink.enqueue_telemetry({"fps": 9.8, "dropped": 0})   # own transaction, lowest priority
    uplink.enqueue_twin_reported({"pipeline": "v3"}, desired_version=7)
    uplink.stats()                                   # OutboxStats: depth/bytes/oldest age per class, drops
    uplink.stop()                                    # publishes 'offline', keeps what is queued

``enqueue_event(conn, event)`` writes into the caller's open transaction on ``conn`` (the event store's
connection to the same SQLite file, which also holds the outbox tables) and never commits itself.
Standalone use (tests, tools): ``Outbox(path)``; ``edgesight outbox status|drain|simulate``; ``edgesight broker``.
"""

from __future__ import annotations

from edgesight.uplink.messages import OutboxMessage, UplinkError, event_message, telemetry_message
from edgesight.uplink.outbox import Outbox, OutboxRow, OutboxStats
from edgesight.uplink.service import Uplink

__all__ = [
    "Outbox",
    "OutboxMessage",
    "OutboxRow",
    "OutboxStats",
    "Uplink",
    "UplinkError",
    "event_message",
    "telemetry_message",
]
