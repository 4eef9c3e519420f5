"""LiveView over real HTTP on an ephemeral port: MJPEG, SSE, JSON API, snapshots, lifecycle, slow clients."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgesight.errors import ConfigError, EdgesightError
from edgesight.types import Event
from edgesight.web import LiveView

TIMEOUT = 20.0  # socket timeout for every client call: a hang fails the test instead of stalling it


def frame(h: int = 240, w: int = 320, value: int = 0, seed: int | None = None) -> np.ndarray:
    """(h, w, 3) uint8 BGR: a gradient with a bright box (compresses like a real frame) or noise."""
    if seed is not None:
        return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 1] = value
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, h // 2), (0, 200, 255), -1)
    return img


def event(i: int = 0, kind: str = "zone_enter", state: str = "start", **kw: Any) -> Event:
    return Event(
        source_id=kw.pop("source_id", "cam"),
        kind=kind,
        state=state,  # type: ignore[arg-type]
        rule=kw.pop("rule", "restricted"),
        zone=kw.pop("zone", "bay"),
        start_pts=float(i),
        track_id=i,
        class_name="person",
        confidence=0.9,
        **kw,
    )


@pytest.fixture
def view() -> Iterator[LiveView]:
    v = LiveView(max_fps=1000, title="test view")
    v.start()
    yield v
    v.stop()


def get(view: LiveView, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", view.port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(view: LiveView, path: str) -> Any:
    with urllib.request.urlopen(view.url.rstrip("/") + path, timeout=TIMEOUT) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.loads(r.read())


def open_stream(view: LiveView, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", view.port, timeout=TIMEOUT)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


def read_part(resp: http.client.HTTPResponse, boundary: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """One multipart/x-mixed-replace part: (headers, body)."""
    line = resp.readline()
    while line in (b"\r\n", b"\n"):
        line = resp.readline()
    assert line.rstrip(b"\r\n") == b"--" + boundary, line
    headers: dict[bytes, bytes] = {}
    while (line := resp.readline().rstrip(b"\r\n")) != b"":
        k, v = line.split(b":", 1)
        headers[k.strip().lower()] = v.strip()
    body = resp.read(int(headers[b"content-length"]))
    return headers, body


def sse_messages(resp: http.client.HTTPResponse) -> Iterator[dict[str, str]]:
    msg: dict[str, str] = {}
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if msg:
                yield msg
            msg = {}
        elif not line.startswith(b":"):
            k, _, v = line.decode().partition(":")
            msg[k] = v[1:] if v.startswith(" ") else v


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


# ---------------------------------------------------------------------------- frames
def test_mjpeg_parts_are_jpegs_of_the_published_frames(view: LiveView) -> None:
    a, b = frame(240, 320, value=30), frame(240, 320, value=220)
    assert view.publish_frame("cam", a)
    resp = open_stream(view, "/stream/cam.mjpg")
    assert resp.status == 200
    ctype = resp.getheader("Content-Type") or ""
    assert ctype.startswith("multipart/x-mixed-replace")
    boundary = ctype.split("boundary=")[1].encode()
    h, body = read_part(resp, boundary)
    assert h[b"content-type"] == b"image/jpeg"
    img = decode(body)
    assert img.shape == (240, 320, 3)
    assert np.abs(img.astype(int) - a).mean() < 6  # JPEG-lossy copy of the frame, not another one
    assert view.publish_frame("cam", b)  # a watched source takes frames at max_fps
    _, body2 = read_part(resp, boundary)
    assert np.abs(decode(body2).astype(int) - b).mean() < 6
    resp.close()


def test_frame_endpoint_and_state(view: LiveView) -> None:
    assert not view.watched  # nobody has connected: the sink skips stats
    assert get(view, "/frame/cam.jpg")[0] == 404
    assert get(view, "/stream/nope.mjpg")[0] == 404
    view.publish_frame("cam 1/ä", frame(120, 200))  # names are URL-quoted on the page
    status, headers, body = get(view, "/frame/cam%201%2F%C3%A4.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert decode(body).shape == (120, 200, 3)
    st = get_json(view, "/api/state")
    assert view.watched
    assert st["title"] == "test view"
    assert st["sources"]["cam 1/ä"]["width"] == 200 and st["sources"]["cam 1/ä"]["height"] == 120


def test_publish_frame_copies_and_rate_limits() -> None:
    v = LiveView(max_fps=1e-3, idle_fps=0)  # one frame per 1000 s: the second offer must be dropped
    with v:
        img = frame(60, 80, value=10)
        assert v.publish_frame("cam", img)
        img[:] = 255  # the caller reuses its buffer: the view kept its own copy
        assert not v.publish_frame("cam", img)
        assert not v.wants_frame("cam") and v.wants_frame("other")
        jpeg = get(v, "/frame/cam.jpg")[2]
        assert decode(jpeg).mean() < 200
        st = v.state()["sources"]["cam"]
        assert (st["frames_offered"], st["frames_kept"]) == (2, 1)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10, 4), np.uint8), np.zeros((0, 10, 3), np.uint8)],
    ids=["float", "4ch", "empty"],
)
def test_publish_frame_rejects_non_images(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 BGR"):
        LiveView().publish_frame("cam", bad)


# ---------------------------------------------------------------------------- events
def test_api_events_cursor_ring_buffer_and_counts() -> None:
    with LiveView(max_events=3) as v:
        evs = [event(0), event(0, state="update", seq=1), event(1, kind="line_cross"), event(2), event(3)]
        for e in evs:
            v.publish_event(e)
        got = get_json(v, "/api/events?after=0")
        assert got["last"] == 5
        assert [m["n"] for m in got["events"]] == [3, 4, 5]  # only the last 3 kept
        assert got["events"][0]["event"]["kind"] == "line_cross"
        assert [m["n"] for m in get_json(v, "/api/events?after=4")["events"]] == [5]
        assert [m["n"] for m in get_json(v, "/api/events?after=2&limit=1")["events"]] == [3]
        assert [m["n"] for m in get_json(v, "/api/events?after=99")["events"]] == [3, 4, 5]  # view restarted
        assert get(v, "/api/events?after=x")[0] == 400
        st = get_json(v, "/api/state")
        assert st["counts"] == {"line_cross": 1, "zone_enter": 3}  # start messages only
        assert st["messages"] == {"line_cross": 1, "zone_enter": 4}
        v.publish_stats({"frames": 12, "fps": 3.5, "events": {"zone_enter": 3}})
        assert get_json(v, "/api/state")["stats"]["fps"] == 3.5


def test_sse_sends_backlog_then_live_events_and_resumes(view: LiveView) -> None:
    view.publish_event(event(0))
    view.publish_event(event(1, kind="ppe"))
    resp = open_stream(view, "/events")
    assert resp.status == 200 and (resp.getheader("Content-Type") or "").startswith("text/event-stream")
    msgs = sse_messages(resp)
    seen: list[dict[str, str]] = []
    for m in msgs:
        seen.append(m)
        if m.get("event") == "state":
            break
    assert [json.loads(m["data"])["kind"] for m in seen if m.get("event") == "event"] == ["zone_enter", "ppe"]
    assert json.loads(seen[-1]["data"])["counts"] == {"ppe": 1, "zone_enter": 1}
    # A message published while the client waits arrives on the open stream.
    threading.Timer(0.2, view.publish_event, args=(event(2, kind="near_miss", rule="forklift"),)).start()
    for m in msgs:
        if m.get("event") == "event":
            body = json.loads(m["data"])
            assert (m["id"], body["kind"], body["rule"]) == ("3", "near_miss", "forklift")
            break
    resp.close()
    # A reconnecting EventSource sends Last-Event-ID and gets only what it missed.
    resp = open_stream(view, "/events", {"Last-Event-ID": "2"})
    first = next(m for m in sse_messages(resp) if m.get("event") == "event")
    assert first["id"] == "3"
    resp.close()


# ---------------------------------------------------------------------------- snapshots
def test_snapshots_served_from_store_root_only(tmp_path: Path) -> None:
    root = tmp_path / "store"
    snap = root / "snapshots" / "2026-01-02" / "abc.jpg"
    snap.parent.mkdir(parents=True)
    _, buf = cv2.imencode(".jpg", frame(40, 60))
    snap.write_bytes(buf.tobytes())
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "snapshots" / "link.txt").symlink_to(tmp_path / "secret.txt")
    with LiveView(store_root=root) as v:
        status, headers, body = get(v, "/snapshots/snapshots/2026-01-02/abc.jpg")
        assert status == 200 and headers["content-type"] == "image/jpeg" and body == snap.read_bytes()
        for path in (
            "/snapshots/../secret.txt",
            "/snapshots/%2e%2e/secret.txt",
            "/snapshots/snapshots/..%2F..%2Fsecret.txt",
            "/snapshots/" + str(tmp_path / "secret.txt"),
            "/snapshots//" + str(tmp_path / "secret.txt"),
            "/snapshots/snapshots/link.txt",  # a symlink leading out of the store
            "/snapshots/snapshots",  # a folder
            "/snapshots/missing.jpg",
            "/snapshots/a%00b",
        ):
            status, _, body = get(v, path)
            assert status == 404, path
            assert b"top secret" not in body
    with LiveView() as v:  # no store: nothing served
        assert get(v, "/snapshots/snapshots/2026-01-02/abc.jpg")[0] == 404


# ---------------------------------------------------------------------------- page
def test_page_is_self_contained_and_escapes_the_title() -> None:
    with LiveView(title="<script>alert(1)</script>") as v:
        v.publish_frame("cam", frame())
        status, headers, body = get(v, "/")
        page = body.decode()
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
        assert 'src="stream/cam.mjpg"' in page
        assert "http://" not in page and "https://" not in page and "//cdn" not in page  # offline devices
        assert 'src="frame/cam.jpg"' in get(v, "/?mode=poll")[2].decode()
        assert get(v, "/nope")[0] == 404


# ---------------------------------------------------------------------------- lifecycle
def test_stop_closes_streams_frees_the_port_and_is_idempotent() -> None:
    v = LiveView(max_fps=1000)
    port = v.start()
    assert v.start() == port and v.url == f"http://127.0.0.1:{port}/"
    v.publish_frame("cam", frame())
    stream = open_stream(v, "/stream/cam.mjpg")
    events = open_stream(v, "/events")
    assert stream.status == 200 and events.status == 200
    v.stop()
    v.stop()
    assert not v.running and v.state()["sources"]["cam"]["viewers"] == 0
    assert not [t for t in threading.enumerate() if t.name == "edgesight-web"]
    # Both open streams were ended by the server (EOF), not left hanging.
    while stream.readline():
        pass
    while events.readline():
        pass
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with LiveView(port=port) as again:  # the port is free again
        assert again.port == port
        assert get(again, "/api/state")[0] == 200


def test_port_in_use_and_bad_port_are_user_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EdgesightError, match=f"127.0.0.1:{port}"):
            LiveView(port=port).start()
    for bad in (-1, 70000, "80"):
        with pytest.raises(ConfigError, match=r"0\.\.65535"):
            LiveView(port=bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_stalled_client_is_dropped_and_never_blocks_the_publisher() -> None:
    """A viewer that stops reading is dropped after write_timeout; publish_frame never waits for it."""
    write_timeout = 1.0
    frames = [frame(720, 1280, seed=s) for s in range(4)]  # noise: ~1 MB JPEGs fill socket buffers fast
    with LiveView(max_fps=1000, write_timeout=write_timeout) as v:
        v.publish_frame("cam", frames[0])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", v.port))
        sock.sendall(b"GET /stream/cam.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # ... and never read
        deadline = time.monotonic() + 60
        while v.state()["sources"]["cam"]["viewers"] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert v.state()["sources"]["cam"]["viewers"] == 1
        slowest, i = 0.0, 0
        while v.state()["sources"]["cam"]["viewers"] and time.monotonic() < deadline:
            t0 = time.perf_counter()
            v.publish_frame("cam", frames[i % len(frames)])
            slowest = max(slowest, time.perf_counter() - t0)
            i += 1
            time.sleep(0.02)
        assert v.state()["sources"]["cam"]["viewers"] == 0, "stalled client was never dropped"
        assert slowest < write_timeout, f"publish_frame waited {slowest:.2f}s for a stalled client"
        # Other clients are still served while (and after) one stalls.
        assert get(v, "/api/state")[0] == 200
        sock.close()
