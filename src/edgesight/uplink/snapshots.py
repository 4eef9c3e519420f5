"""Budgeted snapshot upload: send only what matters, thumbnails first, within a byte budget.

Selection (``SnapshotPolicy``):
  * event snapshots whose event confidence is >= ``min_confidence``;
  * uncertain frames (some detection with ``uncertain_low <= confidence < uncertain_high``), at most one per
    ``uncertain_every_seconds`` of stream time: the frames a retraining set needs.

Queue (table ``upload_queue`` in the same SQLite file as the outbox): a selected image becomes a
thumbnail item (``thumbnail_width`` px wide, sent first) and, per ``full_resolution``, a full-size item
sent after every pending thumbnail (``later``), only when asked (``on_request``), or never.

Budget: two token buckets in bytes (per hour and per day, refilled continuously); an item goes out only
when both hold its size. Transport: HTTP ``PUT {endpoint}/{device_id}/{key}/{thumb|full}.jpg``
(``Content-Type: image/jpeg``); any S3-compatible store accepts this with a pre-signed or public-write URL.

Accounting: bytes sent versus the bytes that streaming every offered frame as JPEG would have cost
(estimated from the measured JPEG bytes per pixel of the images it did encode).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesight.config import SnapshotUploadConfig
from edgesight.types import Detections, Event
from edgesight.uplink.messages import UplinkError
from edgesight.uplink.outbox import connect

__all__ = [
    "HttpPutTransport",
    "SnapshotPolicy",
    "SnapshotUploader",
    "TokenBucket",
    "UploadStats",
    "make_thumbnail",
]

log = logging.getLogger("edgesight.uplink")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    variant TEXT NOT NULL,
    reason TEXT NOT NULL,
    priority INTEGER NOT NULL,
    parked INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE(key, variant)
);
CREATE INDEX IF NOT EXISTS upload_order ON upload_queue(parked, priority, id);
CREATE TABLE IF NOT EXISTS upload_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# send order: event thumbnails, uncertain thumbnails, then full-resolution images
_PRIORITY = {("thumb", "event"): 0, ("thumb", "uncertain"): 1, ("full", "event"): 2, ("full", "uncertain"): 3}

#: transport(url, jpeg bytes, headers) -> None; raises on failure.
Transport = Callable[[str, bytes, dict[str, str]], None]


class TokenBucket:
    """``capacity`` bytes, refilled at ``capacity / period_seconds`` bytes/s; starts full.

    Times come from ``clock`` (seconds, monotonic) so tests and benches can drive it.
    """

    def __init__(
        self, capacity: float, period_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(capacity)
        self.rate = self.capacity / period_seconds
        self._clock = clock
        self._tokens = self.capacity
        self._t = clock()

    def available(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._t) * self.rate)
        self._t = now
        return self._tokens

    def take(self, n: float) -> None:
        self.available()
        self._tokens -= n


class SnapshotPolicy:
    """Decides what is worth sending. Holds only the time of the last uncertain sample."""

    def __init__(self, cfg: SnapshotUploadConfig) -> None:
        self.cfg = cfg
        self._last_uncertain_pts = -float("inf")

    def wants_event(self, event: Event) -> bool:
        return event.confidence is not None and event.confidence >= self.cfg.min_confidence

    def wants_uncertain(self, detections: Detections, pts: float) -> bool:
        """True when ``detections`` has a confidence in the uncertain band and the sampling interval has passed."""
        c = detections.confidence
        if not np.any((c >= self.cfg.uncertain_low) & (c < self.cfg.uncertain_high)):
            return False
        if pts - self._last_uncertain_pts < self.cfg.uncertain_every_seconds:
            return False
        self._last_uncertain_pts = pts
        return True


def make_thumbnail(image: np.ndarray, width: int, quality: int) -> bytes:
    """JPEG of ``image`` (H, W, 3) uint8 BGR scaled to ``width`` px (never upscaled)."""
    import cv2

    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UplinkError(f"cannot encode a {w}x{h} thumbnail as JPEG")
    return buf.tobytes()


class HttpPutTransport:
    """PUT the JPEG to a URL with urllib (no extra dependency); 2xx = stored."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __call__(self, url: str, data: bytes, headers: dict[str, str]) -> None:
        req = urllib.request.Request(
            url, data=data, method="PUT", headers={"Content-Type": "image/jpeg", **headers}
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            if not 200 <= resp.status < 300:
                raise UplinkError(f"upload {url}: HTTP {resp.status}")


@dataclass(frozen=True)
class UploadStats:
    """Counters of one uploader (bytes are JPEG payload bytes)."""

    queued: int
    queued_bytes: int
    parked: int
    sent_items: int
    sent_bytes: int
    frames_seen: int
    every_frame_bytes_estimate: int
    skipped_over_budget: int
    last_error: str | None

    @property
    def saving_ratio(self) -> float | None:
        """every-frame bytes / bytes sent (None before anything was sent)."""
        return None if self.sent_bytes == 0 else self.every_frame_bytes_estimate / self.sent_bytes


class SnapshotUploader:
    """Selects, queues (durably) and sends snapshots within the byte budget.

    Args:
        cfg: the ``uplink.snapshots`` section.
        db_path: SQLite file (the event store's) where ``upload_queue`` lives.
        device_id: part of every upload URL.
        transport: how bytes leave (default: HTTP PUT with urllib).
        clock: monotonic seconds for the budget buckets.
    """

    def __init__(
        self,
        cfg: SnapshotUploadConfig,
        db_path: str | Path,
        device_id: str,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.device_id = device_id
        self.policy = SnapshotPolicy(cfg)
        self.transport: Transport = transport or HttpPutTransport(cfg.timeout_seconds)
        self.hour = TokenBucket(cfg.bytes_per_hour, 3600.0, clock)
        self.day = TokenBucket(cfg.bytes_per_day, 86400.0, clock)
        self._lock = threading.RLock()
        self._conn = connect(db_path, "NORMAL")
        self._conn.executescript(_SCHEMA)
        self._frames_seen = 0
        self._pixels_seen = 0
        self._jpeg_bytes_per_pixel: float | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ offering
    def offer_event(self, event: Event, jpeg: bytes | None = None, image: np.ndarray | None = None) -> bool:
        """Queue ``event``'s snapshot if the policy wants it. Give the JPEG, the BGR image, or both."""
        if not self.policy.wants_event(event) or (jpeg is None and image is None):
            return False
        self._queue(event.id, "event", jpeg, image)
        return True

    def offer_frame(self, image: np.ndarray, detections: Detections, pts: float, key: str) -> bool:
        """Called for every analysed frame: counts it (for the every-frame estimate), queues uncertain samples.

        Args:
            image: (H, W, 3) uint8 BGR frame.
            detections: the detector's output on it (frame pixels).
            pts: stream time in seconds.
            key: unique name for the sample (e.g. ``f"{source_id}-{frame_index}"``).
        """
        with self._lock:
            self._frames_seen += 1
            self._pixels_seen += int(image.shape[0] * image.shape[1])
        if not self.policy.wants_uncertain(detections, pts):
            return False
        self._queue(key, "uncertain", None, image)
        return True

    def _queue(self, key: str, reason: str, jpeg: bytes | None, image: np.ndarray | None) -> None:
        import cv2

        if image is None:
            image = cv2.imdecode(np.frombuffer(jpeg or b"", np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise UplinkError(f"snapshot of {key}: not a decodable JPEG ({len(jpeg or b'')} bytes)")
        if jpeg is None:
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if not ok:
                raise UplinkError(f"snapshot of {key}: cannot encode JPEG")
            jpeg = buf.tobytes()
        with self._lock:
            bpp = len(jpeg) / float(image.shape[0] * image.shape[1])
            self._jpeg_bytes_per_pixel = (
                bpp if self._jpeg_bytes_per_pixel is None else 0.9 * self._jpeg_bytes_per_pixel + 0.1 * bpp
            )
        thumb = make_thumbnail(image, self.cfg.thumbnail_width, self.cfg.thumbnail_quality)
        now = time.time()
        rows = [("thumb", thumb, 0)]
        if self.cfg.full_resolution != "never":
            rows.append(("full", jpeg, int(self.cfg.full_resolution == "on_request")))
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for variant, data, parked in rows:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO upload_queue(key, variant, reason, priority, parked, data, bytes, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (key, variant, reason, _PRIORITY[(variant, reason)], parked, data, len(data), now),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def request_full(self, key: str) -> bool:
        """Release the full-resolution image of ``key`` (``on_request`` mode); True if one was waiting."""
        with self._lock:
            return (
                self._conn.execute(
                    "UPDATE upload_queue SET parked = 0 WHERE key = ? AND variant = 'full' AND parked = 1",
                    (key,),
                ).rowcount
                > 0
            )

    # ------------------------------------------------------------------ sending
    def url_for(self, key: str, variant: str) -> str:
        return f"{self.cfg.endpoint.rstrip('/')}/{self.device_id}/{key}/{variant}.jpg"

    def pump(self, max_items: int = 1000) -> int:
        """Send queued items in order while the budget allows; returns how many were sent."""
        sent = 0
        while sent < max_items:
            with self._lock:
                row = self._conn.execute(
                    "SELECT id, key, variant, reason, data, bytes FROM upload_queue WHERE parked = 0 "
                    "ORDER BY parked, priority, id LIMIT 1"
                ).fetchone()
            if row is None:
                break
            item_id, key, variant, reason, data, nbytes = row
            if nbytes > min(self.hour.capacity, self.day.capacity):
                with self._lock:
                    self._conn.execute("DELETE FROM upload_queue WHERE id = ?", (item_id,))
                    _bump(self._conn, "skipped_over_budget")
                log.warning(
                    "upload: %s/%s is %d bytes, more than the whole budget; skipped", key, variant, nbytes
                )
                continue
            if self.hour.available() < nbytes or self.day.available() < nbytes:
                break  # budget spent for now: everything waits, in order
            url = self.url_for(key, variant)
            try:
                self.transport(
                    url, bytes(data), {"X-Edgesight-Reason": reason, "X-Edgesight-Device": self.device_id}
                )
            except (OSError, urllib.error.URLError, UplinkError) as exc:
                self.last_error = f"upload to {url} failed: {exc}; {self.stats().queued} image(s) stay queued"
                log.warning("upload: %s", self.last_error)
                break
            self.hour.take(nbytes)
            self.day.take(nbytes)
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("DELETE FROM upload_queue WHERE id = ?", (item_id,))
                _bump(self._conn, "sent_items")
                _bump(self._conn, "sent_bytes", nbytes)
                self._conn.execute("COMMIT")
            self.last_error = None
            sent += 1
        return sent

    def start(self, interval_seconds: float = 1.0) -> None:
        """Pump in a background thread every ``interval_seconds``."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.pump()
                except Exception:
                    log.exception("upload: pump failed")
                self._stop.wait(interval_seconds)

        self._thread = threading.Thread(target=run, name="edgesight-uploader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()

    # ------------------------------------------------------------------ status
    def stats(self) -> UploadStats:
        with self._lock:
            q, qb = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM upload_queue"
            ).fetchone()
            parked = self._conn.execute("SELECT COUNT(*) FROM upload_queue WHERE parked = 1").fetchone()[0]
            c: dict[str, Any] = dict(self._conn.execute("SELECT name, value FROM upload_counters").fetchall())
            est = int(self._pixels_seen * (self._jpeg_bytes_per_pixel or 0.0))
            frames = self._frames_seen
        return UploadStats(
            int(q),
            int(qb),
            int(parked),
            int(c.get("sent_items", 0)),
            int(c.get("sent_bytes", 0)),
            frames,
            est,
            int(c.get("skipped_over_budget", 0)),
            self.last_error,
        )


def _bump(conn: sqlite3.Connection, name: str, n: int = 1) -> None:
    conn.execute(
        "INSERT INTO upload_counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        (name, n),
    )
