"""Pipeline configuration: what the user wrote, validated. Runtime objects are built elsewhere.

Every field has a title and description so the JSON schema (`edgesight config schema`) and
docs/config.md document themselves. Unknown keys are refused (extra="forbid").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgesight.errors import ConfigError

__all__ = [
    "BackendConfig",
    "DefectRuleConfig",
    "LineRuleConfig",
    "ModelConfig",
    "MotionConfig",
    "NearMissRuleConfig",
    "ObjectRuleConfig",
    "OutputsConfig",
    "PipelineConfig",
    "PpeRuleConfig",
    "RuleConfig",
    "SourceConfig",
    "StoreConfig",
    "TrackerConfig",
    "UplinkConfig",
    "ZoneRuleConfig",
    "load_config",
]

Point = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# ----------------------------------------------------------------------------- sources
class _SourceBase(_Model):
    name: str = Field(title="Name", description="Unique source id, used in events and metrics.")
    max_fps: float | None = Field(
        None,
        gt=0,
        title="Max fps",
        description="Process at most this many frames per second (drops the rest).",
    )


class FileSourceConfig(_SourceBase):
    type: Literal["file"] = Field(
        "file", title="Type", description="A video file decoded with OpenCV/FFmpeg."
    )
    path: Path = Field(title="Path", description="Video file path.")
    realtime: bool = Field(
        False,
        title="Real-time pace",
        description="Play at the file's own fps (then frames may drop like a live camera). Off: never drop.",
    )
    loop: bool = Field(False, title="Loop", description="Start again at the end (for demos and soak tests).")


class ImagesSourceConfig(_SourceBase):
    type: Literal["images"] = Field(
        "images", title="Type", description="A folder of images, read in name order."
    )
    path: Path = Field(title="Path", description="Folder holding .jpg/.png/.bmp files.")
    fps: float = Field(
        10.0, gt=0, title="Fps", description="Stream time assigned between consecutive images."
    )


class StreamSourceConfig(_SourceBase):
    type: Literal["stream"] = Field("stream", title="Type", description="An RTSP/HTTP/RTMP network stream.")
    url: str = Field(title="URL", description="Stream URL, e.g. rtsp://user:pass@host/stream.")
    queue_size: int = Field(
        4, ge=1, title="Queue size", description="Frames buffered; when full the oldest is dropped."
    )
    reconnect_initial_seconds: float = Field(
        0.5, gt=0, title="Reconnect initial delay", description="First backoff."
    )
    reconnect_max_seconds: float = Field(
        30.0, gt=0, title="Reconnect max delay", description="Backoff ceiling."
    )
    open_timeout_seconds: float = Field(
        10.0, gt=0, title="Open timeout", description="Give up one open attempt after this."
    )


class UsbSourceConfig(_SourceBase):
    type: Literal["usb"] = Field("usb", title="Type", description="A local camera (V4L2 device).")
    device: int | str = Field(0, title="Device", description="Camera index (0) or path (/dev/video0).")
    width: int | None = Field(None, gt=0, title="Width", description="Requested capture width.")
    height: int | None = Field(None, gt=0, title="Height", description="Requested capture height.")
    queue_size: int = Field(
        4, ge=1, title="Queue size", description="Frames buffered; when full the oldest is dropped."
    )
    reconnect_initial_seconds: float = Field(
        0.5, gt=0, title="Reconnect initial delay", description="First backoff."
    )
    reconnect_max_seconds: float = Field(
        30.0, gt=0, title="Reconnect max delay", description="Backoff ceiling."
    )


SourceConfig = Annotated[
    FileSourceConfig | ImagesSourceConfig | StreamSourceConfig | UsbSourceConfig, Field(discriminator="type")
]


# ----------------------------------------------------------------------------- model
class OnnxRuntimeBackendConfig(_Model):
    type: Literal["onnxruntime"] = Field("onnxruntime", title="Type", description="ONNX Runtime.")
    threads: int = Field(
        0, ge=0, title="Threads", description="Intra-op threads; 0 = ONNX Runtime's default."
    )
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        title="Execution providers",
        description="In priority order, e.g. [CUDAExecutionProvider, CPUExecutionProvider].",
    )
    spin: bool = Field(
        False,
        title="Spin-wait threads",
        description="Let ONNX Runtime's threads busy-wait between ops: a little faster when inference runs alone, "
        "slower when the pipeline's other threads share the cores.",
    )


class OpenVinoBackendConfig(_Model):
    type: Literal["openvino"] = Field(
        "openvino", title="Type", description="OpenVINO runtime (pip install edgesight[openvino])."
    )
    device: str = Field("CPU", title="Device", description="OpenVINO device: CPU, GPU, NPU, AUTO.")
    threads: int = Field(0, ge=0, title="Threads", description="Inference threads; 0 = OpenVINO's default.")
    performance_hint: Literal["LATENCY", "THROUGHPUT"] = Field(
        "LATENCY", title="Performance hint", description="OpenVINO performance hint."
    )


class LiteRtBackendConfig(_Model):
    type: Literal["litert"] = Field(
        "litert", title="Type", description="LiteRT/TFLite interpreter (pip install edgesight[litert])."
    )
    threads: int = Field(0, ge=0, title="Threads", description="Interpreter threads; 0 = default.")


BackendConfig = Annotated[
    OnnxRuntimeBackendConfig | OpenVinoBackendConfig | LiteRtBackendConfig, Field(discriminator="type")
]


class ModelConfig(_Model):
    path: Path = Field(title="Model path", description="Model file: .onnx, .tflite, or OpenVINO .xml.")
    backend: BackendConfig | None = Field(
        None, title="Backend", description="Inference backend; default chosen from the file type."
    )
    labels: Path | None = Field(
        None,
        title="Labels file",
        description="One class name per line, when the model file does not carry names.",
    )
    confidence: float = Field(
        0.25, ge=0, le=1, title="Min confidence", description="Detections below are dropped."
    )
    iou: float = Field(0.45, gt=0, le=1, title="NMS IoU", description="Class-aware NMS IoU threshold.")
    classes: list[str] | None = Field(
        None, title="Class filter", description="Keep only these class names (default: all)."
    )
    class_confidence: dict[str, float] = Field(
        default_factory=dict,
        title="Per-class confidence",
        description="Class name -> min confidence override.",
    )
    max_detections: int = Field(300, ge=1, title="Max detections", description="Per frame, after NMS.")
    multi_label: bool = Field(
        False,
        title="Multi-label boxes",
        description=(
            "YOLO outputs: keep every class whose score passes its threshold for a box, not only the "
            "box's best class. Turn on when classes share boxes (a `defect` covering its whole `part`)."
        ),
    )
    max_batch: int = Field(
        8,
        ge=1,
        title="Max batch",
        description="Frames per inference call when the model has a dynamic batch dimension (static models use their own).",
    )

    @field_validator("class_confidence")
    @classmethod
    def _in_unit(cls, v: dict[str, float]) -> dict[str, float]:
        for k, c in v.items():
            if not 0 <= c <= 1:
                raise ValueError(f"confidence for {k!r} must be in [0, 1], got {c}")
        return v


# ----------------------------------------------------------------------------- tracking / motion
class TrackerConfig(_Model):
    enabled: bool = Field(True, title="Enabled", description="Track objects across frames (ByteTrack).")
    high_confidence: float = Field(
        0.5, ge=0, le=1, title="High threshold", description="First-stage match threshold."
    )
    low_confidence: float = Field(
        0.1, ge=0, le=1, title="Low threshold", description="Second-stage (recovery) threshold."
    )
    new_track_confidence: float = Field(
        0.6, ge=0, le=1, title="New track threshold", description="Min confidence to start a track."
    )
    match_iou: float = Field(
        0.2, gt=0, le=1, title="Match IoU", description="Min IoU to match a detection to a track (1 - cost)."
    )
    lost_track_seconds: float = Field(
        3.0,
        gt=0,
        title="Lost track buffer (s)",
        description="Keep a lost track this long (stream time) for re-identification.",
    )
    min_track_seconds: float = Field(
        0.0,
        ge=0,
        title="Min track age (s)",
        description="A track is reported only after it has lived this long.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TrackerConfig:
        if self.low_confidence > self.high_confidence:
            raise ValueError(
                f"low_confidence ({self.low_confidence}) must not exceed high_confidence ({self.high_confidence})"
            )
        return self


class MotionConfig(_Model):
    enabled: bool | Literal["auto"] = Field(
        "auto",
        title="Enabled",
        description="Skip the detector on still frames; auto = on for live sources only.",
    )
    threshold: float = Field(
        0.002,
        ge=0,
        le=1,
        title="Motion threshold",
        description="Fraction of changed pixels (low-res) that counts as motion.",
    )
    pixel_delta: int = Field(
        25, ge=1, le=255, title="Pixel delta", description="Grey-level change that marks a pixel changed."
    )
    max_skip_seconds: float = Field(
        2.0,
        ge=0,
        title="Max skip (s)",
        description="Run the detector at least this often even without motion.",
    )
    downscale_width: int = Field(
        160, ge=16, title="Analysis width", description="Width of the low-res difference image."
    )


# ----------------------------------------------------------------------------- rules
class _RuleBase(_Model):
    name: str = Field(title="Name", description="Rule name, shown in events.")
    classes: list[str] | None = Field(
        None, title="Classes", description="Object classes this rule watches (default: all)."
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, title="Min confidence", description="Ignore weaker detections."
    )
    cooldown_seconds: float = Field(
        0.0,
        ge=0,
        title="Cooldown (s)",
        description="After an event for a track, suppress the same event for this long.",
    )


class ZoneRuleConfig(_RuleBase):
    type: Literal["zone"] = Field("zone", title="Type", description="A polygon zone.")
    polygon: list[Point] = Field(
        title="Polygon", description="Vertices [[x, y], ...] in frame pixels (>= 3)."
    )
    anchor: Literal["bottom_center", "center"] = Field(
        "bottom_center", title="Anchor", description="Point of the box tested against the zone."
    )
    events: list[Literal["enter", "exit", "occupancy", "dwell"]] = Field(
        ["enter", "exit"], title="Events", description="Which events this zone emits."
    )
    dwell_seconds: float = Field(
        10.0, gt=0, title="Dwell (s)", description="Time inside before a dwell event."
    )
    debounce_seconds: float = Field(
        0.3,
        ge=0,
        title="Debounce (s)",
        description="Inside/outside must hold this long before it counts (no flicker).",
    )
    lost_seconds: float = Field(
        3.0,
        gt=0,
        title="Lost after (s)",
        description="A track unseen this long is gone: if it was inside it gets an exit, its dwell ends.",
    )

    @field_validator("polygon")
    @classmethod
    def _polygon(cls, v: list[Point]) -> list[Point]:
        if len(v) < 3:
            raise ValueError(f"a zone polygon needs at least 3 points, got {len(v)}")
        return v


class LineRuleConfig(_RuleBase):
    type: Literal["line"] = Field("line", title="Type", description="A directed counting line.")
    start: Point = Field(title="Start", description="[x, y] in frame pixels.")
    end: Point = Field(title="End", description="[x, y] in frame pixels.")
    anchor: Literal["bottom_center", "center"] = Field(
        "bottom_center", title="Anchor", description="Point of the box that must cross the line."
    )
    directions: list[Literal["in", "out"]] = Field(
        ["in", "out"],
        title="Directions",
        description="'in' = crossing from the right of start->end to its left (as seen on screen); 'out' = the other way.",
    )
    min_distance: float = Field(
        5.0,
        ge=0,
        title="Hysteresis (px)",
        description="Anchor must move at least this far past the line to count.",
    )
    lost_seconds: float = Field(
        3.0,
        gt=0,
        title="Lost after (s)",
        description="Forget a track unseen this long (its side of the line).",
    )

    @model_validator(mode="after")
    def _nonzero(self) -> LineRuleConfig:
        if self.start == self.end:
            raise ValueError("line start and end must differ")
        return self


class ObjectRuleConfig(_RuleBase):
    type: Literal["object"] = Field(
        "object",
        title="Type",
        description="One event per tracked object: start when it appears, end when it leaves.",
    )
    min_seconds: float = Field(
        0.5,
        ge=0,
        title="Min visible (s)",
        description="A track must be seen this long before its event starts.",
    )
    lost_seconds: float = Field(
        1.5, gt=0, title="Lost after (s)", description="The event ends after the track is unseen this long."
    )


class PpeRuleConfig(_RuleBase):
    type: Literal["ppe"] = Field(
        "ppe",
        title="Type",
        description="A person seen without a required item (e.g. a hard hat) for min_seconds.",
    )
    classes: list[str] | None = Field(
        ["person"], title="Person classes", description="Classes that are people."
    )
    required_classes: list[str] = Field(
        ["hard_hat"],
        min_length=1,
        title="Required item classes",
        description="Any one of these worn = compliant.",
    )
    missing_classes: list[str] = Field(
        ["head"],
        title="Missing-item classes",
        description="Detections that show the item is missing (a bare head); [] = none.",
    )
    require_evidence: bool = Field(
        True,
        title="Require evidence",
        description="Only a missing-item detection counts against a person; off: any frame without the item counts.",
    )
    item_min_confidence: float = Field(
        0.25, ge=0, le=1, title="Item min confidence", description="Weaker item/head detections are ignored."
    )
    head_fraction: float = Field(
        0.3,
        gt=0,
        le=1,
        title="Head region",
        description="Top fraction of the person box where the item must be.",
    )
    min_seconds: float = Field(
        2.0, ge=0, title="Min violation (s)", description="Without the item this long = event."
    )
    clear_seconds: float = Field(
        1.0,
        gt=0,
        title="Clear after (s)",
        description="The event ends after the item is seen again this long.",
    )
    min_fraction: float = Field(
        0.7,
        gt=0,
        le=1,
        title="Vote fraction",
        description="Share of the window's observations that must agree to start or end the event (noise-proof).",
    )
    zone: list[Point] | None = Field(
        None,
        title="Zone",
        description="Only people whose feet are inside this polygon (frame pixels) are checked.",
    )
    lost_seconds: float = Field(
        1.5, gt=0, title="Lost after (s)", description="End the event when the person is unseen this long."
    )

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: list[Point] | None) -> list[Point] | None:
        if v is not None and len(v) < 3:
            raise ValueError(f"a zone polygon needs at least 3 points, got {len(v)}")
        return v


class NearMissRuleConfig(_RuleBase):
    type: Literal["near_miss"] = Field(
        "near_miss", title="Type", description="A person closer than `distance` to a vehicle."
    )
    classes: list[str] | None = Field(
        ["person"], title="Person classes", description="Classes that are people."
    )
    vehicle_classes: list[str] = Field(
        ["forklift"], min_length=1, title="Vehicle classes", description="Classes that are vehicles."
    )
    distance: float = Field(
        gt=0,
        title="Distance",
        description="From the person's feet to the vehicle's near edge: pixels, or ground units (e.g. metres) with a homography.",
    )
    homography: list[list[float]] | None = Field(
        None,
        title="Homography",
        description="3x3 matrix mapping frame pixels to ground-plane coordinates; distances are then measured on the ground.",
    )
    min_seconds: float = Field(
        0.0, ge=0, title="Min close (s)", description="Closer than `distance` at least this long."
    )
    clear_seconds: float = Field(
        1.0,
        gt=0,
        title="Clear after (s)",
        description="The event ends after they are apart (distance x hysteresis) this long.",
    )
    hysteresis: float = Field(
        1.2, ge=1, title="Hysteresis", description="Apart means farther than distance x this."
    )
    lost_seconds: float = Field(
        1.5, gt=0, title="Lost after (s)", description="End the event when either track is unseen this long."
    )

    @field_validator("homography")
    @classmethod
    def _h(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) != 3 or any(len(r) != 3 for r in v)):
            raise ValueError("homography must be a 3x3 matrix [[...], [...], [...]]")
        return v


class DefectRuleConfig(_RuleBase):
    type: Literal["defect"] = Field(
        "defect", title="Type", description="A defect detected on a part: one event per part track."
    )
    classes: list[str] | None = Field(
        ["part"], title="Part classes", description="Classes that are inspected parts."
    )
    defect_classes: list[str] = Field(
        ["defect"], min_length=1, title="Defect classes", description="Classes that are defects."
    )
    defect_min_confidence: float = Field(
        0.3, ge=0, le=1, title="Defect min confidence", description="Weaker defect detections are ignored."
    )
    min_overlap: float = Field(
        0.6,
        gt=0,
        le=1,
        title="Min overlap",
        description="Fraction of the defect box that must lie inside the part box.",
    )
    min_seconds: float = Field(
        0.2,
        ge=0,
        title="Min seen (s)",
        description="The defect must be seen on the part over at least this long.",
    )
    min_hits: int = Field(2, ge=1, title="Min hits", description="...and in at least this many frames.")
    lost_seconds: float = Field(
        3.0, gt=0, title="Lost after (s)", description="Forget a part track unseen this long."
    )


RuleConfig = Annotated[
    ZoneRuleConfig
    | LineRuleConfig
    | ObjectRuleConfig
    | PpeRuleConfig
    | NearMissRuleConfig
    | DefectRuleConfig,
    Field(discriminator="type"),
]


# ----------------------------------------------------------------------------- store / outputs
class SnapshotConfig(_Model):
    enabled: bool = Field(True, title="Enabled", description="Save a JPEG of each event's best moment.")
    draw_boxes: bool = Field(True, title="Draw boxes", description="Draw the event's box on the snapshot.")
    jpeg_quality: int = Field(85, ge=10, le=100, title="JPEG quality", description="1-100.")
    max_width: int | None = Field(None, gt=0, title="Max width", description="Downscale wider snapshots.")


class StoreConfig(_Model):
    path: Path = Field(
        Path("edgesight-data"), title="Store folder", description="events.db and snapshots/ live here."
    )
    max_age_days: float | None = Field(
        30.0, gt=0, title="Max age (days)", description="Delete older events/snapshots."
    )
    max_bytes: int | None = Field(
        2_000_000_000, gt=0, title="Max bytes", description="Snapshot folder size cap; oldest removed first."
    )
    snapshots: SnapshotConfig = Field(
        default_factory=lambda: SnapshotConfig.model_validate({}),
        title="Snapshots",
        description="Snapshot settings.",
    )


class OutputsConfig(_Model):
    video: Path | None = Field(
        None, title="Annotated video", description="Write an annotated video here (.mp4/.avi)."
    )
    events_jsonl: str | None = Field(
        None,
        title="Event stream",
        description="Write each event as a JSON line: '-' for stdout or a file path.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        title="Metrics port",
        description="Serve Prometheus metrics on this port while running.",
    )


# ----------------------------------------------------------------------------- uplink (offline-first MQTT)
_MQTT_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


class UplinkTlsConfig(_Model):
    ca_file: Path | None = Field(
        None,
        title="CA file",
        description="PEM CA bundle that signed the broker's certificate (default: system CAs).",
    )
    cert_file: Path | None = Field(
        None, title="Client certificate", description="PEM client certificate (mutual TLS)."
    )
    key_file: Path | None = Field(
        None, title="Client key", description="PEM private key of the client certificate."
    )
    insecure_skip_verify: bool = Field(
        False,
        title="Skip verification",
        description="Do not verify the broker's certificate or host name (testing only).",
    )

    @model_validator(mode="after")
    def _pair(self) -> UplinkTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(
                "tls.cert_file and tls.key_file must be given together (client certificate + its key)"
            )
        return self


class OutboxConfig(_Model):
    max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=4096,
        title="Quota (bytes)",
        description="Outbox payload bytes kept at most; past it the oldest lowest-priority messages are dropped (counted).",
    )
    alert_ttl_seconds: float = Field(
        7 * 86400, gt=0, title="Alert TTL (s)", description="Alerts older than this expire."
    )
    event_ttl_seconds: float = Field(
        7 * 86400, gt=0, title="Event TTL (s)", description="Events older than this expire."
    )
    twin_ttl_seconds: float = Field(
        7 * 86400, gt=0, title="Twin TTL (s)", description="Twin reports older than this expire."
    )
    telemetry_ttl_seconds: float = Field(
        7 * 86400, gt=0, title="Telemetry TTL (s)", description="Telemetry older than this expires."
    )


class SnapshotUploadConfig(_Model):
    endpoint: str = Field(
        title="Endpoint",
        description="HTTP(S) base URL; each image is PUT to {endpoint}/{device_id}/{event_id}/{thumb|full}.jpg.",
    )
    min_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        title="Event confidence",
        description="Event snapshots at or above this confidence are sent.",
    )
    uncertain_low: float = Field(
        0.25,
        ge=0,
        le=1,
        title="Uncertain low",
        description="Detections in [uncertain_low, uncertain_high) are 'uncertain'.",
    )
    uncertain_high: float = Field(
        0.45, ge=0, le=1, title="Uncertain high", description="Upper bound of the uncertain band (exclusive)."
    )
    uncertain_every_seconds: float = Field(
        60.0,
        gt=0,
        title="Uncertain sampling (s)",
        description="At most one uncertain frame per this much stream time.",
    )
    thumbnail_width: int = Field(
        320, ge=32, title="Thumbnail width", description="Thumbnails are scaled to this width (px)."
    )
    thumbnail_quality: int = Field(70, ge=10, le=100, title="Thumbnail JPEG quality", description="1-100.")
    full_resolution: Literal["never", "later", "on_request"] = Field(
        "later",
        title="Full resolution",
        description="never; later (after every pending thumbnail, budget permitting); on_request (only when asked).",
    )
    bytes_per_hour: int = Field(
        50_000_000,
        gt=0,
        title="Budget per hour",
        description="Image bytes sent per rolling hour at most (token bucket).",
    )
    bytes_per_day: int = Field(
        500_000_000,
        gt=0,
        title="Budget per day",
        description="Image bytes sent per rolling day at most (token bucket).",
    )
    timeout_seconds: float = Field(10.0, gt=0, title="HTTP timeout", description="Per request.")

    @model_validator(mode="after")
    def _check(self) -> SnapshotUploadConfig:
        from urllib.parse import urlsplit

        if urlsplit(self.endpoint).scheme not in ("http", "https") or not urlsplit(self.endpoint).netloc:
            raise ValueError(f"snapshots.endpoint must be an http(s):// URL, got {self.endpoint!r}")
        if self.uncertain_low >= self.uncertain_high:
            raise ValueError("snapshots.uncertain_low must be below uncertain_high")
        return self


class UplinkConfig(_Model):
    """MQTT uplink: outbox (durable, offline first) -> broker. See docs/uplink.md."""

    url: str = Field(
        "mqtt://127.0.0.1:1883",
        title="Broker URL",
        description="mqtt://host[:port] (plain, default 1883) or mqtts://host[:port] (TLS, default 8883).",
    )
    client_id: str | None = Field(
        None, title="Client id", description="MQTT client id (default: edgesight-{device_id})."
    )
    username: str | None = Field(None, title="Username", description="Broker user name.")
    password: str | None = Field(None, title="Password", description="Broker password (needs username).")
    tls: UplinkTlsConfig | None = Field(
        None, title="TLS", description="TLS settings; implied (system CAs) by an mqtts:// URL."
    )
    topic_prefix: str = Field(
        "edgesight/v1", title="Topic prefix", description="Topics are {prefix}/{device_id}/..."
    )
    keepalive_seconds: int = Field(30, ge=5, le=65535, title="Keepalive (s)", description="MQTT keepalive.")
    connect_timeout_seconds: float = Field(
        5.0, gt=0, title="Connect timeout (s)", description="One connect attempt."
    )
    max_inflight: int = Field(
        64,
        ge=1,
        le=65535,
        title="In-flight window",
        description="QoS 1 messages published but not yet acknowledged.",
    )
    reconnect_initial_seconds: float = Field(
        0.5, gt=0, title="Reconnect initial delay", description="First backoff."
    )
    reconnect_max_seconds: float = Field(
        30.0, gt=0, title="Reconnect max delay", description="Backoff ceiling."
    )
    max_message_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=268_435_455,
        title="Max message (bytes)",
        description="Larger payloads are held in the outbox (not sent, not lost) and reported.",
    )
    telemetry_seconds: float = Field(
        60.0,
        gt=0,
        title="Telemetry interval (s)",
        description="A running pipeline queues telemetry this often.",
    )
    alert_kinds: list[str] = Field(
        default_factory=lambda: ["dwell", "ppe", "near_miss", "defect"],
        title="Alert kinds",
        description="Event kinds sent as alerts (highest priority, first after a reconnect).",
    )
    alert_rules: list[str] = Field(
        default_factory=list,
        title="Alert rules",
        description="Rule names whose events are alerts, whatever their kind.",
    )
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, title="Outbox", description="Quota and TTLs.")
    snapshots: SnapshotUploadConfig | None = Field(
        None, title="Snapshot upload", description="Budgeted snapshot upload; off when absent."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(v)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"broker URL {v!r} is malformed: {exc}") from None
        if parts.scheme not in _MQTT_SCHEMES:
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {v!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL has no host, got {v!r} (expected e.g. mqtt://broker.local:1883)")
        if port == 0:
            raise ValueError(f"broker URL port must be 1-65535, got {v!r}")
        if parts.username or parts.password or parts.path not in ("", "/") or parts.query:
            raise ValueError(
                f"broker URL must be scheme://host[:port] only (credentials go in username/password), got {v!r}"
            )
        return v

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v or v.startswith("/") or v.endswith("/") or any(c in v for c in "+#\0"):
            raise ValueError(
                f"topic_prefix must be a non-empty MQTT topic without wildcards or edge slashes, got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _creds(self) -> UplinkConfig:
        if self.password is not None and self.username is None:
            raise ValueError("uplink.password needs uplink.username")
        if self.reconnect_initial_seconds > self.reconnect_max_seconds:
            raise ValueError("reconnect_initial_seconds must not exceed reconnect_max_seconds")
        return self


class PipelineConfig(_Model):
    """One pipeline: sources -> model -> tracker -> rules -> store/outputs (and uplink)."""

    device_id: str = Field(
        "local", title="Device id", description="This device's id, stamped on every event."
    )
    sources: list[SourceConfig] = Field(
        min_length=1, title="Sources", description="One or more video sources."
    )
    model: ModelConfig = Field(title="Model", description="Detection model and thresholds.")
    tracker: TrackerConfig = Field(
        default_factory=TrackerConfig, title="Tracker", description="Tracking settings."
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, title="Motion gate", description="Motion gate settings."
    )
    rules: list[RuleConfig] = Field(
        default_factory=list, title="Rules", description="Zones, lines and composite rules."
    )
    store: StoreConfig = Field(
        default_factory=StoreConfig, title="Event store", description="Local event storage."
    )
    outputs: OutputsConfig = Field(
        default_factory=OutputsConfig, title="Outputs", description="Video, JSON lines, metrics."
    )
    uplink: UplinkConfig | None = Field(
        None, title="Uplink", description="MQTT uplink + snapshot upload (offline first); off when absent."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> PipelineConfig:
        for what, names in (
            ("source", [s.name for s in self.sources]),
            ("rule", [r.name for r in self.rules]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be unique, repeated: {dupes}")
        return self


def _format_validation_error(exc: ValidationError, where: str) -> str:
    lines = [f"{where}: {exc.error_count()} problem(s)"]
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here)"
        got = e.get("input")
        got_s = "" if e["type"] in ("missing",) or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  - {loc}: {msg}{got_s}")
    return "\n".join(lines)


def parse_config(data: Any, where: str = "config") -> PipelineConfig:
    """Validate already-parsed YAML/JSON data; raises ConfigError naming each bad key."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where}: expected a mapping at the top level (sources:, model:, ...), got {type(data).__name__}"
        )
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, where)) from None


def load_config(path: str | Path) -> PipelineConfig:
    """Read and validate a pipeline YAML file. Relative paths in it are resolved against its folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.reader.ReaderError):  # bad bytes: no mark, only an offset
            before = text[: exc.position]
            pos = f" at line {before.count(chr(10)) + 1}, column {len(before) - before.rfind(chr(10))}"
            problem = f"unacceptable character {exc.character!r} ({exc.reason})"
        raise ConfigError(f"{p}: not valid YAML{pos}: {problem}") from None
    cfg = parse_config(data, str(p))
    return _resolve_paths(cfg, p.parent)


def _resolve_paths(cfg: PipelineConfig, base: Path) -> PipelineConfig:
    def fix(x: Path | None) -> Path | None:
        return x if x is None or x.is_absolute() else Path(os.path.normpath(base / x))

    sources = [
        s.model_copy(update={"path": fix(s.path)})
        if isinstance(s, (FileSourceConfig, ImagesSourceConfig))
        else s
        for s in cfg.sources
    ]
    model = cfg.model.model_copy(update={"path": fix(cfg.model.path), "labels": fix(cfg.model.labels)})
    store = cfg.store.model_copy(update={"path": fix(cfg.store.path)})
    outputs = cfg.outputs.model_copy(update={"video": fix(cfg.outputs.video)})
    return cfg.model_copy(update={"sources": sources, "model": model, "store": store, "outputs": outputs})
