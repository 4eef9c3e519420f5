"""Outbox + uplink benchmark: sustained enqueue and drain rates against a local broker, and the bytes the
snapshot policy saves on the pedestrian video compared with sending every frame as JPEG.

    .venv/bin/python bench/outbox.py                  # both parts
    .venv/bin/python bench/outbox.py --part rates --messages 5000
    .venv/bin/python bench/outbox.py --part snapshots --stride 5

Rates: a private broker (mosquitto on an ephemeral port, else the embedded amqtt broker) and a
subscriber that counts arrivals; every figure is measured in this one run, side by side.
Snapshots: YOLOv8n (../shared/assets) on every ``stride``-th frame, ByteTrack, one "object appeared"
event per new track (the event a whole-frame zone would raise) with its frame as the snapshot; the
uncertain band feeds retraining samples. Bytes are what the uploader PUTs to a local HTTP server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from edgesight.config import OutboxConfig, SnapshotUploadConfig, UplinkConfig
from edgesight.types import Event
from edgesight.uplink import Outbox, Uplink, event_message, telemetry_message
from edgesight.uplink.local_broker import LocalBroker

ASSETS = Path(__file__).resolve().parents[1].parent / "shared" / "assets"
con = Console()


# ----------------------------------------------------------------------------- rates
class Counter:
    def __init__(self, port: int, device: str) -> None:
        self.n = 0
        self.lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2)
        c.on_message = self._msg
        c.connect("127.0.0.1", port)
        c.subscribe(f"edgesight/v1/{device}/+", qos=1)
        c.loop_start()
        self.c = c
        time.sleep(0.3)

    def _msg(self, *_: object) -> None:
        with self.lock:
            self.n += 1

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def _messages(n: int, tag: str) -> list:
    out = []
    for i in range(n):
        if i % 3 == 2:
            out.append(telemetry_message("bench", {"i": i, "fps": 10.0}))
        else:
            e = Event(
                device_id="bench",
                source_id="cam",
                kind="ppe" if i % 3 == 0 else "zone_enter",
                rule=tag,
                start_pts=float(i),
                confidence=0.8,
                box=[1.0, 2.0, 3.0, 4.0],
            )
            out.append(event_message(e, "alert" if i % 3 == 0 else "event"))
    return out


def enqueue_rate(db: Path, n: int, synchronous: str, batch: int) -> float:
    msgs = _messages(n, f"{synchronous}{batch}")
    with Outbox(db, OutboxConfig(), synchronous=synchronous) as ob:
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            ob.enqueue_many(msgs[i : i + batch])
        return n / (time.perf_counter() - t0)


def drain_rate(broker: LocalBroker, db: Path, n: int, window: int) -> tuple[float, float]:
    """Queue n messages offline, then time the uplink emptying the outbox; returns (drain msg/s, arrival msg/s)."""
    device = f"bench{window}"
    with Outbox(db, OutboxConfig(), synchronous="NORMAL") as ob:
        ob.enqueue_many(_messages(n, "drain"))
    sub = Counter(broker.port, device)
    up = Uplink.from_config(UplinkConfig(url=broker.url, max_inflight=window), db, device)
    t0 = time.perf_counter()
    up.start()
    while up.stats().total_depth:
        time.sleep(0.01)
    t_drain = time.perf_counter() - t0
    end = time.monotonic() + 30
    while sub.n < n and time.monotonic() < end:
        time.sleep(0.01)
    t_arrive = time.perf_counter() - t0
    up.stop()
    sub.close()
    if sub.n < n:
        raise SystemExit(f"only {sub.n}/{n} messages arrived")
    return n / t_drain, n / t_arrive


def sustained(broker: LocalBroker, db: Path, seconds: float, rate: float) -> dict:
    """A producer enqueues (one transaction per message, like the store hook) at ``rate`` msg/s (0 = flat
    out) for ``seconds`` while the uplink drains; returns produced/delivered rates and the largest backlog."""
    device = f"benchsus{int(rate)}"
    sub = Counter(broker.port, device)
    up = Uplink.from_config(UplinkConfig(url=broker.url), db, device)
    up.start()
    up.link.wait_connected(10)
    msgs = _messages(200_000, "sus")
    t0 = time.perf_counter()
    k = 0
    max_backlog = 0
    next_sample = t0
    while (now := time.perf_counter()) - t0 < seconds:
        with up.outbox.transaction() as conn:
            up.outbox.enqueue_in(conn, msgs[k])
        k += 1
        if now >= next_sample:
            max_backlog = max(max_backlog, up.stats().total_depth)
            next_sample = now + 0.1
        if rate > 0 and (lag := t0 + k / rate - time.perf_counter()) > 0:
            time.sleep(lag)
    produced_s = time.perf_counter() - t0
    backlog_end = up.stats().total_depth
    while up.stats().total_depth:
        time.sleep(0.01)
    total_s = time.perf_counter() - t0
    end = time.monotonic() + 30
    while sub.n < k and time.monotonic() < end:
        time.sleep(0.01)
    up.stop()
    sub.close()
    return {
        "produced_per_s": round(k / produced_s),
        "delivered_per_s": round(sub.n / total_s),
        "max_backlog": max(max_backlog, backlog_end),
        "backlog_at_end": backlog_end,
        "delivered": sub.n,
        "produced": k,
    }


def part_rates(n: int) -> dict:
    res: dict = {}
    with tempfile.TemporaryDirectory() as d, LocalBroker() as broker:
        dd = Path(d)
        t = Table(title=f"outbox enqueue ({n} messages, one SQLite file, WAL)")
        t.add_column("mode")
        t.add_column("msg/s", justify="right")
        t.add_column("vs FULL x1", justify="right")
        rows = [("FULL", 1), ("NORMAL", 1), ("FULL", 100), ("NORMAL", 100)]
        rates = {}
        for sync, batch in rows:
            rates[(sync, batch)] = enqueue_rate(dd / f"enq-{sync}-{batch}.db", n, sync, batch)
        base = rates[("FULL", 1)]
        for (sync, batch), r in rates.items():
            t.add_row(f"synchronous={sync}, {batch} msg/transaction", f"{r:,.0f}", f"{r / base:.1f}x")
        res["enqueue"] = {f"{s}_x{b}": round(r) for (s, b), r in rates.items()}
        con.print(t)

        t = Table(title=f"drain backlog of {n} to {broker.kind} (QoS 1, delete after PUBACK)")
        for c in ("in-flight window", "drain msg/s", "arrival msg/s"):
            t.add_column(c, justify="right")
        res["drain"] = {}
        for w in (8, 64, 256):
            dr, ar = drain_rate(broker, dd / f"drain-{w}.db", n, w)
            res["drain"][w] = round(dr)
            t.add_row(str(w), f"{dr:,.0f}", f"{ar:,.0f}")
        con.print(t)

        t = Table(title="sustained: producer and uplink at the same time (5 s, FULL, 1 msg/transaction)")
        for c in ("producer target", "produced msg/s", "delivered msg/s", "max backlog", "backlog at end"):
            t.add_column(c, justify="right")
        res["sustained"] = {}
        for rate in (100.0, 0.0):
            r = sustained(broker, dd / f"sus{int(rate)}.db", 5.0, rate)
            res["sustained"]["flat_out" if rate == 0 else f"{rate:g}/s"] = r
            t.add_row(
                "flat out" if rate == 0 else f"{rate:g} msg/s",
                f"{r['produced_per_s']:,}",
                f"{r['delivered_per_s']:,}",
                str(r["max_backlog"]),
                str(r["backlog_at_end"]),
            )
        con.print(t)
    return res


# ----------------------------------------------------------------------------- snapshot bytes
class Sink:
    def __init__(self) -> None:
        self.bytes = 0
        self.items: list[str] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.bytes += len(body)
                sink.items.append(self.path)
                self.send_response(201)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def part_snapshots(stride: int) -> dict:
    import cv2

    from edgesight.config import ModelConfig, TrackerConfig
    from edgesight.inference import load_detector
    from edgesight.tracking import ByteTrack
    from edgesight.uplink.snapshots import SnapshotUploader

    video = ASSETS / "videos" / "pedestrians_480x360.avi"
    model = ASSETS / "models" / "yolov8n_coco_fp32_640.onnx"
    if not video.is_file() or not model.is_file():
        con.print(f"[yellow]skipped snapshot part: assets not found under {ASSETS}[/]")
        return {}
    det = load_detector(ModelConfig(path=model, confidence=0.2))
    tracker = ByteTrack(TrackerConfig())
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    sink = Sink()
    res = {}
    with tempfile.TemporaryDirectory() as d:
        policies = {
            "thumbnails only": {"full_resolution": "on_request"},
            "thumbnails + full later": {"full_resolution": "later"},
        }
        ups = {
            name: SnapshotUploader(
                SnapshotUploadConfig(
                    endpoint=f"{sink.url}/{i}", min_confidence=0.5, uncertain_every_seconds=10.0, **kw
                ),
                Path(d) / f"{i}.db",
                "bench",
            )
            for i, (name, kw) in enumerate(policies.items())
        }
        every_frame = 0
        frames = 0
        seen: set[int] = set()
        events = 0
        t0 = time.perf_counter()
        i = -1
        while True:
            ok, img = cap.read()
            if not ok:
                break
            i += 1
            jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
            every_frame += len(jpg)
            frames += 1
            if i % stride:
                continue
            pts = i / fps
            dets = det.detect([img])[0]
            tracked = tracker.update(dets, pts)
            for up in ups.values():
                up.offer_frame(img, dets, pts, f"frame-{i}")
            assert tracked.tracker_id is not None
            for tid, conf, cls in zip(
                tracked.tracker_id, tracked.confidence, tracked.class_names, strict=True
            ):
                if int(tid) in seen:
                    continue
                seen.add(int(tid))
                ev = Event(
                    device_id="bench",
                    source_id="ped",
                    kind="zone_enter",
                    rule="whole-frame",
                    start_pts=pts,
                    track_id=int(tid),
                    class_name=cls,
                    confidence=float(conf),
                )
                events += 1
                for up in ups.values():
                    up.offer_event(ev, jpg, img)
        cap.release()
        analysed_s = time.perf_counter() - t0
        t = Table(
            title=f"snapshot policy on {video.name}: {frames} frames, detector on every {stride}th, {events} events"
        )
        for c in ("what is sent", "images", "bytes", "vs every frame"):
            t.add_column(c, justify="right" if c != "what is sent" else "left")
        t.add_row("every frame as JPEG (q85)", str(frames), f"{every_frame:,}", "1x")
        for name, up in ups.items():
            before = sink.bytes
            n_before = len(sink.items)
            up.pump(100_000)
            sent = sink.bytes - before
            s = up.stats()
            t.add_row(
                f"policy: {name}",
                str(len(sink.items) - n_before),
                f"{sent:,}",
                f"{every_frame / max(sent, 1):.0f}x less",
            )
            res[name] = {
                "bytes": sent,
                "images": len(sink.items) - n_before,
                "ratio": round(every_frame / max(sent, 1), 1),
                "estimate_every_analysed_frame": s.every_frame_bytes_estimate,
            }
            up.close()
        con.print(t)
        con.print(f"(detector + tracking + policy over the video took {analysed_s:.1f} s)")
        res["every_frame_bytes"] = every_frame
        res["events"] = events
        res["frames"] = frames
    sink.server.shutdown()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["rates", "snapshots", "all"], default="all")
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--stride", type=int, default=5, help="Run the detector on every Nth frame.")
    ap.add_argument("--json", action="store_true", help="Also print the figures as JSON.")
    a = ap.parse_args()
    out = {}
    if a.part in ("rates", "all"):
        out["rates"] = part_rates(a.messages)
    if a.part in ("snapshots", "all"):
        out["snapshots"] = part_snapshots(a.stride)
    if a.json:
        json.dump(out, sys.stdout, indent=2, default=str)
        print()


if __name__ == "__main__":
    main()
