"""LiveView: the latest annotated frame per source, recent events and run stats, served over HTTP.

The pipeline side (``publish_*``) only swaps references under a short lock: it never encodes,
never writes to a socket and never waits for a client. JPEG encoding happens lazily in the HTTP
client threads, once per accepted frame however many clients watch, and frames are accepted at
most ``max_fps`` times a second per source while someone watches (``idle_fps`` otherwise, so a
page opened later shows a recent frame at once). A slow client simply skips to the newest frame;
a stalled one is dropped after ``write_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edgesight.errors import ConfigError, EdgesightError
from edgesight.types import Event

__all__ = ["LiveView"]

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    """One source's latest frame. ``image`` is replaced, never mutated, so readers need no lock."""

    image: npt.NDArray[np.uint8] | None = None
    version: int = 0
    accepted_at: float = -math.inf  # time.monotonic() of the last accepted frame
    jpeg: bytes | None = None
    jpeg_version: int = 0
    offered: int = 0  # publish_frame calls, accepted or not
    viewers: int = 0  # open MJPEG streams
    encode_lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # LiveView.stop() joins its own client threads, with a bound

    def __init__(self, address: tuple[str, int], handler: Any, view: LiveView) -> None:
        self.view = view
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class LiveView:
    """A small local web page showing a running pipeline: annotated video, events, stats.

    Zero extra dependencies (``http.server`` in a daemon thread). Bound to 127.0.0.1 unless told.
    Thread-safe: ``publish_*`` may be called from any thread, typically the runner's
    post-processing thread on every frame.

    Args:
        port: TCP port; 0 picks a free one (see ``start()``'s return value / ``port``).
        host: interface to bind; "0.0.0.0" exposes the page to the network (no authentication).
        store_root: the event store folder; event snapshots (``Event.snapshot``, relative to it)
            are served from ``/snapshots/<relative path>``. None: no snapshots served.
        title: page title.
        max_fps: most frames per second accepted (and JPEG-encoded) per source while watched.
        idle_fps: frames per second accepted per source while nobody watches (0: first frame only).
        jpeg_quality: 1..100.
        max_events: event messages kept (ring buffer) for the page and ``/api/events``.
        write_timeout: seconds a client may stall a write before it is dropped.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        store_root: Path | None = None,
        title: str = "edgesight",
        *,
        max_fps: float = 10.0,
        idle_fps: float = 1.0,
        jpeg_quality: int = 80,
        max_events: int = 200,
        write_timeout: float = 5.0,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(
                f"live view port must be an integer in 0..65535 (0 = any free port), got {port!r}"
            )
        if not host:
            raise ConfigError("live view host must be an interface address such as 127.0.0.1, got ''")
        if not max_fps > 0 or not idle_fps >= 0:
            raise ConfigError(
                f"live view needs max_fps > 0 and idle_fps >= 0, got {max_fps!r} and {idle_fps!r}"
            )
        if not 1 <= int(jpeg_quality) <= 100:
            raise ConfigError(f"live view jpeg_quality must be in 1..100, got {jpeg_quality!r}")
        if int(max_events) < 1 or not write_timeout > 0:
            raise ConfigError(
                f"live view needs max_events >= 1 and write_timeout > 0, got {max_events!r} and {write_timeout!r}"
            )
        self.host = host
        self.requested_port = port
        self.store_root = None if store_root is None else Path(store_root)
        self.title = title
        self.max_fps = float(max_fps)
        self.idle_fps = float(idle_fps)
        self.jpeg_quality = int(jpeg_quality)
        self.write_timeout = float(write_timeout)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on every frame, event, stats, stop
        self._slots: dict[str, _Slot] = {}
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=int(max_events))
        self._event_n = 0  # view-local message number, 1-based, for SSE ids and ?after=
        self._counts: Counter[str] = Counter()  # distinct events (start messages) by kind
        self._messages: Counter[str] = Counter()  # every message by kind
        self._stats: dict[str, Any] = {}
        self._state_version = 0  # bumped when stats, counts or the set of sources change
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clients: dict[threading.Thread, socket.socket] = {}
        self._last_request = -math.inf  # time.monotonic() of the last client connection
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> int:
        """Bind and serve in a daemon thread; returns the bound port. Idempotent while running.

        Raises:
            EdgesightError: the address cannot be bound (port in use, unknown interface).
        """
        from edgesight.web.server import Handler

        with self._lock:
            if self._server is not None:
                return self.port
            self._stopping = False
        try:
            server = _Server((self.host, self.requested_port), Handler, self)
        except OSError as exc:
            raise EdgesightError(
                f"cannot serve the live view on {self.host}:{self.requested_port}: {exc.strerror or exc}"
                " (is the port in use? try another --serve port, or 0 for any free one)"
            ) from exc
        self.port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="edgesight-web", daemon=True
        )
        with self._lock:
            self._server, self._thread = server, thread
        thread.start()
        log.info("live view on %s", self.url)
        return self.port

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:8080/`` (a wildcard host shows as localhost)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close every client connection and join the threads. Idempotent.

        Args:
            timeout: seconds to wait in total for client threads to end.
        """
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._stopping = True
            self._changed.notify_all()
            clients = dict(self._clients)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for conn in clients.values():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a client thread blocked in a write
        if thread is not None:
            thread.join(timeout)
        deadline = time.monotonic() + timeout
        for t in clients:
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LiveView:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ pipeline side
    def wants_frame(self, source_id: str) -> bool:
        """True when ``publish_frame(source_id, ...)`` would accept a frame now.

        Lets a caller skip drawing annotations on frames the view would drop anyway: at most
        ``max_fps`` per second while a client watches this source, ``idle_fps`` otherwise.
        """
        now = time.monotonic()
        with self._lock:
            return self._due(self._slots.get(source_id), now)

    def _due(self, slot: _Slot | None, now: float) -> bool:
        if slot is None or slot.image is None:
            return True
        fps = self.max_fps if slot.viewers else self.idle_fps
        return fps > 0 and now - slot.accepted_at >= 1.0 / fps * 0.999

    def publish_frame(self, source_id: str, image_bgr: npt.NDArray[np.uint8]) -> bool:
        """Offer the latest (annotated) frame of a source; returns whether it was kept.

        Never blocks on clients and never encodes: a kept frame is copied (the caller keeps its
        array) and encoded later, once, by the first client thread that needs it.

        Args:
            source_id: source name; it appears on the page from its first frame on.
            image_bgr: (H, W, 3) uint8 BGR, or (H, W) uint8 grey, in frame pixels.

        Raises:
            ValueError: the image is not a 2-D/3-channel uint8 array.
        """
        arr = np.asarray(image_bgr)
        if (
            arr.dtype != np.uint8
            or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3)))
            or 0 in arr.shape
        ):
            raise ValueError(
                f"live view frame for {source_id!r} must be (H, W, 3) uint8 BGR, got {arr.shape} {arr.dtype}"
            )
        now = time.monotonic()
        with self._lock:
            slot = self._slots.get(source_id)
            if slot is not None:
                slot.offered += 1
            if not self._due(slot, now):
                return False
        copy = np.array(arr, dtype=np.uint8, copy=True, order="C")
        with self._lock:
            slot = self._slots.get(source_id)
            if slot is None:
                slot = self._slots[source_id] = _Slot(offered=1)
                self._state_version += 1
            slot.image = copy
            slot.version += 1
            slot.accepted_at = now
            self._changed.notify_all()
        return True

    def publish_event(self, event: Event) -> None:
        """Record one event message (any state) for the events table; keeps the last ``max_events``."""
        body = event.model_dump(mode="json")
        with self._lock:
            self._event_n += 1
            self._events.append((self._event_n, body))
            self._messages[event.kind] += 1
            if event.state == "start":
                self._counts[event.kind] += 1
                self._state_version += 1
            self._changed.notify_all()

    def publish_stats(self, summary: dict[str, Any]) -> None:
        """Replace the run summary shown in the page header (``PipelineMetrics.summary()`` layout:
        ``frames``, ``fps``, ``elapsed_s``, ``detector_runs``, ``motion_skipped``, ``events`` by kind,
        ``stages`` with p50/p95 ms). The dict is copied; it must be JSON-serialisable."""
        import copy
        import json

        snapshot = json.loads(json.dumps(copy.deepcopy(summary), default=str))
        with self._lock:
            self._stats = snapshot
            self._state_version += 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ server side (client threads)
    def state(self) -> dict[str, Any]:
        """JSON-ready view state: title, sources, latest stats, event counts by kind."""
        with self._lock:
            return self._state_locked()

    def _state_locked(self) -> dict[str, Any]:
        sources = {}
        for name, slot in sorted(self._slots.items()):
            img = slot.image
            sources[name] = {
                "width": None if img is None else int(img.shape[1]),
                "height": None if img is None else int(img.shape[0]),
                "frames_offered": slot.offered,
                "frames_kept": slot.version,
                "viewers": slot.viewers,
            }
        return {
            "title": self.title,
            "sources": sources,
            "stats": self._stats,
            "counts": dict(sorted(self._counts.items())),
            "messages": dict(sorted(self._messages.items())),
            "last_event": self._event_n,
            "version": self._state_version,
        }

    def events_after(
        self, after: int, limit: int | None = None
    ) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
        """Event messages numbered above ``after`` (oldest first) and the newest number.

        A cursor beyond the newest message (the view restarted) is treated as 0.
        """
        with self._lock:
            return self._events_after_locked(after, limit)

    def _events_after_locked(
        self, after: int, limit: int | None
    ) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
        if after > self._event_n:
            after = 0
        out = [(n, body) for n, body in self._events if n > after]
        if limit is not None:
            out = out[:limit]
        return self._event_n, out

    def _wait_updates(
        self, after: int, state_version: int, timeout: float
    ) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any] | None, bool]:
        """Block until events after ``after`` or a newer state exist, stop, or timeout.

        Returns (new event messages, the state if its version differs from ``state_version``, stopping).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                _, evs = self._events_after_locked(after, None)
                newer_state = self._state_version != state_version
                if evs or newer_state or self._stopping:
                    return evs, (self._state_locked() if newer_state else None), self._stopping
                left = deadline - time.monotonic()
                if left <= 0:
                    return [], None, False
                self._changed.wait(left)

    def _wait_frame(self, source_id: str, after_version: int, timeout: float) -> int | None:
        """Block until the source has a frame newer than ``after_version``; returns its version.

        None on timeout, on stop, or when the source is unknown.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._stopping:
                slot = self._slots.get(source_id)
                if slot is not None and slot.image is not None and slot.version > after_version:
                    return slot.version
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
        return None

    def has_source(self, source_id: str) -> bool:
        with self._lock:
            return source_id in self._slots

    def latest_jpeg(self, source_id: str) -> tuple[int, bytes] | None:
        """The newest kept frame as JPEG (version, bytes), encoding it if no client has yet."""
        with self._lock:
            slot = self._slots.get(source_id)
            if slot is None or slot.image is None:
                return None
            if slot.jpeg is not None and slot.jpeg_version == slot.version:
                return slot.jpeg_version, slot.jpeg
            version, image = slot.version, slot.image
        with slot.encode_lock:  # one encode per frame, however many clients wait for it
            with self._lock:
                if slot.jpeg is not None and slot.jpeg_version >= version:
                    return slot.jpeg_version, slot.jpeg
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
                return None
            data = buf.tobytes()
            with self._lock:
                if version > slot.jpeg_version:
                    slot.jpeg, slot.jpeg_version = data, version
        return version, data

    def _viewer(self, source_id: str, delta: int) -> bool:
        """Count an MJPEG client in (+1) or out (-1); False when the source is unknown."""
        with self._lock:
            slot = self._slots.get(source_id)
            if slot is None:
                return False
            slot.viewers = max(0, slot.viewers + delta)
            if delta > 0:
                self._changed.notify_all()
            return True

    def _client(self, conn: socket.socket | None) -> None:
        """Register (conn) or forget (None) the calling client thread's connection."""
        with self._lock:
            me = threading.current_thread()
            self._last_request = time.monotonic()
            if conn is None:
                self._clients.pop(me, None)
            else:
                self._clients[me] = conn

    @property
    def watched(self) -> bool:
        """True while a client is connected or one was within the last 5 s (pollers come and go).

        Lets a caller skip computing stats nobody will see.
        """
        with self._lock:
            return bool(self._clients) or time.monotonic() - self._last_request < 5.0

    @property
    def stopping(self) -> bool:
        return self._stopping

    def snapshot_file(self, relpath: str) -> Path | None:
        """The file for ``/snapshots/<relpath>`` inside ``store_root``, or None (absent, outside, no root)."""
        if self.store_root is None or not relpath or "\x00" in relpath:
            return None
        try:
            root = self.store_root.resolve()
            path = (root / relpath).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path
