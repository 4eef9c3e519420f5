"""Prometheus metrics for the outbox and the uplink, read from the database at scrape time.

Register on a registry you own (no global default registry is touched)::

    registry = CollectorRegistry()
    registry.register(OutboxCollector(db_path))
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgesight.uplink.outbox import Outbox

__all__ = ["OutboxCollector"]


class OutboxCollector(Collector):
    """Exposes ``edgesight_outbox_*`` and ``edgesight_uplink_connected`` from one outbox database file."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)

    def collect(self) -> Iterator[Metric]:
        with Outbox(self.db_path) as ob:
            s = ob.stats()
        depth = GaugeMetricFamily(
            "edgesight_outbox_depth", "Messages waiting in the outbox.", labels=["class"]
        )
        size = GaugeMetricFamily(
            "edgesight_outbox_bytes", "Payload bytes waiting in the outbox.", labels=["class"]
        )
        age = GaugeMetricFamily(
            "edgesight_outbox_oldest_age_seconds",
            "Age of the oldest waiting message (0 when empty).",
            labels=["class"],
        )
        for cls in s.depth:
            depth.add_metric([cls], s.depth[cls])
            size.add_metric([cls], s.bytes[cls])
            age.add_metric([cls], s.oldest_age_seconds[cls] or 0.0)
        yield depth
        yield size
        yield age
        yield GaugeMetricFamily("edgesight_outbox_quota_bytes", "Outbox byte quota.", value=s.quota_bytes)
        yield GaugeMetricFamily(
            "edgesight_outbox_held", "Oversized messages kept but not sent.", value=s.held
        )
        families = {
            "enqueued": CounterMetricFamily(
                "edgesight_outbox_enqueued", "Messages accepted.", labels=["class"]
            ),
            "sent": CounterMetricFamily(
                "edgesight_outbox_sent", "Messages acknowledged by the broker.", labels=["class"]
            ),
            "duplicate": CounterMetricFamily(
                "edgesight_outbox_duplicates",
                "Enqueues ignored (message id already queued).",
                labels=["class"],
            ),
        }
        dropped = CounterMetricFamily(
            "edgesight_outbox_dropped", "Messages dropped (reason: quota or ttl).", labels=["class", "reason"]
        )
        for name, value in sorted(s.counters.items()):
            kind, _, cls = name.partition(":")
            if kind in families:
                families[kind].add_metric([cls], value)
            elif kind in ("dropped_quota", "dropped_ttl"):
                dropped.add_metric([cls, kind.removeprefix("dropped_")], value)
        yield from families.values()
        yield dropped
        if s.uploads:
            yield GaugeMetricFamily(
                "edgesight_upload_queued",
                "Snapshot images waiting to be uploaded.",
                value=s.uploads["queued"],
            )
            yield GaugeMetricFamily(
                "edgesight_upload_queued_bytes",
                "Bytes of snapshot images waiting.",
                value=s.uploads["queued_bytes"],
            )
            yield CounterMetricFamily(
                "edgesight_upload_sent_bytes", "Snapshot bytes uploaded.", value=s.uploads["sent_bytes"]
            )
        yield GaugeMetricFamily(
            "edgesight_uplink_connected",
            "1 while connected to the broker.",
            value=float(s.uplink.get("connected") == "1"),
        )
