"""HTTP endpoints of the live view (one thread per client, ``http.server``).

Routes:
    /                          the page (inline CSS/JS, works offline); ``/?mode=poll`` polls instead of streaming
    /stream/<source>.mjpg      multipart/x-mixed-replace MJPEG of the source's annotated frames
    /frame/<source>.jpg        the newest frame as one JPEG
    /events                    Server-Sent Events: ``event`` (one event message), ``state`` (stats/counts)
    /api/events?after=N        JSON ``{"last": N, "events": [{"n": .., "event": {..}}, ...]}``
    /api/state                 JSON: sources, stats, counts by kind
    /snapshots/<relative path> event snapshot JPEGs from the store root (nothing outside it)
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from edgesight.web.page import render_page

if TYPE_CHECKING:
    from edgesight.web.live_view import LiveView, _Server

__all__ = ["Handler"]

log = logging.getLogger(__name__)

_BOUNDARY = "edgesightframe"
_SSE_KEEPALIVE_S = 15.0
_SSE_STATE_MIN_INTERVAL_S = 0.5  # stats/counts at most twice a second per client
_WAIT_SLICE_S = 1.0  # how often idle client threads look at the stop flag


class Handler(BaseHTTPRequestHandler):
    """One client connection. Writes are bounded by the view's ``write_timeout``."""

    server: _Server
    server_version = "edgesight-liveview"
    protocol_version = "HTTP/1.0"  # one response per connection; streams end by closing

    @property
    def view(self) -> LiveView:
        return self.server.view

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.view.write_timeout)  # bounds reads and each (whole) sendall
        self.view._client(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.view._client(None)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ routing
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        try:
            if path in ("/", "/index.html"):
                poll = parse_qs(url.query).get("mode", [""])[0] == "poll"
                self._send(render_page(self.view.state(), poll=poll), "text/html; charset=utf-8")
            elif path == "/api/state":
                self._json(self.view.state())
            elif path == "/api/events":
                self._api_events(parse_qs(url.query))
            elif path == "/events":
                self._sse(parse_qs(url.query))
            elif path.startswith("/stream/") and path.endswith(".mjpg"):
                self._mjpeg(unquote(path[len("/stream/") : -len(".mjpg")]))
            elif path.startswith("/frame/") and path.endswith(".jpg"):
                self._frame(unquote(path[len("/frame/") : -len(".jpg")]))
            elif path.startswith("/snapshots/"):
                self._snapshot(unquote(path[len("/snapshots/") :]))
            elif path == "/favicon.ico":
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            log.debug("client %s gone: %s", self.address_string(), exc)
        except OSError as exc:  # a socket shut down by stop(), or a stalled client
            log.debug("client %s dropped: %s", self.address_string(), exc)
        self.close_connection = True

    # ------------------------------------------------------------------ helpers
    def _send(self, body: bytes | str, ctype: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(json.dumps(obj, separators=(",", ":")), "application/json", status)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json({"error": message}, status)

    def _api_events(self, query: dict[str, list[str]]) -> None:
        try:
            after = int(query.get("after", ["0"])[0])
            limit = int(query["limit"][0]) if "limit" in query else None
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "after and limit must be integers, e.g. /api/events?after=12")
            return
        last, evs = self.view.events_after(after, limit)
        self._json({"last": last, "events": [{"n": n, "event": body} for n, body in evs]})

    def _frame(self, source: str) -> None:
        got = self.view.latest_jpeg(source)
        if got is None:
            self._error(HTTPStatus.NOT_FOUND, f"no frame from source {source!r} yet")
            return
        self._send(got[1], "image/jpeg")

    def _snapshot(self, relpath: str) -> None:
        path = self.view.snapshot_file(relpath)
        if path is None:
            self._error(HTTPStatus.NOT_FOUND, "no such snapshot")
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(path.read_bytes(), ctype)

    def _mjpeg(self, source: str) -> None:
        view = self.view
        if not view._viewer(source, +1):
            self._error(HTTPStatus.NOT_FOUND, f"no source named {source!r} (yet)")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Pragma", "no-cache")
            self.end_headers()
            version = 0
            while not view.stopping:
                newer = view._wait_frame(source, version, _WAIT_SLICE_S)
                if newer is None:
                    continue
                got = view.latest_jpeg(source)
                if got is None:
                    continue
                version, jpeg = got
                head = (
                    f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                ).encode("ascii")
                # One write per part; a client that cannot take it within write_timeout is dropped.
                self.wfile.write(head + jpeg + b"\r\n")
        finally:
            view._viewer(source, -1)

    def _sse(self, query: dict[str, list[str]]) -> None:
        view = self.view
        try:
            after = int(self.headers.get("Last-Event-ID") or query.get("after", ["0"])[0])
        except ValueError:
            after = 0
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        first = "retry: 2000\n\n"  # sent with the backlog: one write, so the page fills at once
        state_version = -1
        pending_state: dict[str, Any] | None = None
        last_state_sent = -float("inf")
        last_write = time.monotonic()
        while True:
            wait = _WAIT_SLICE_S if pending_state is None else _SSE_STATE_MIN_INTERVAL_S / 2
            evs, state, stopping = view._wait_updates(after, state_version, wait)
            if stopping:
                return
            chunks: list[str] = [first] if first else []
            first = ""
            for n, body in evs:
                chunks.append(f"id: {n}\nevent: event\ndata: {json.dumps(body, separators=(',', ':'))}\n\n")
                after = n
            if state is not None:
                pending_state, state_version = state, int(state["version"])
            now = time.monotonic()
            if pending_state is not None and now - last_state_sent >= _SSE_STATE_MIN_INTERVAL_S:
                chunks.append(f"event: state\ndata: {json.dumps(pending_state, separators=(',', ':'))}\n\n")
                pending_state, last_state_sent = None, now
            if not chunks and now - last_write >= _SSE_KEEPALIVE_S:
                chunks.append(": keepalive\n\n")  # also how a vanished client is noticed
            if chunks:
                self.wfile.write("".join(chunks).encode("utf-8"))
                last_write = now
