"""``stream`` source: an RTSP/HTTP/RTMP network stream read with OpenCV's FFmpeg backend.

Decoding runs in its own thread into a drop-oldest queue (see ``_live.LiveCapture``); a lost stream is
re-opened with exponential backoff. HTTP MJPEG (``multipart/x-mixed-replace``, as many IP cameras and
``http.server``-style test servers send it) is read by FFmpeg's ``mpjpeg`` demuxer.

RTSP over TCP: FFmpeg defaults to UDP; set ``OPENCV_FFMPEG_CAPTURE_OPTIONS="rtsp_transport;tcp"`` in
the environment before starting edgesight (OpenCV reads it per open; edgesight never changes it).
"""

from __future__ import annotations

import re

import cv2

from edgesight.config import StreamSourceConfig
from edgesight.sources._live import LiveCapture

__all__ = ["StreamSource", "redact_url"]


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` replaced by ``***@`` (for logs and errors)."""
    return re.sub(r"//[^/@]*@", "//***@", url)


class StreamSource(LiveCapture):
    """A network stream as a live source. ``pts``: monotonic seconds since the source was opened."""

    def __init__(self, cfg: StreamSourceConfig) -> None:
        self.cfg = cfg
        timeout_ms = int(cfg.open_timeout_seconds * 1000)
        url = cfg.url

        def opener() -> cv2.VideoCapture:
            # Both timeouts matter: without the read timeout a stalled server blocks read() forever.
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)

        super().__init__(
            cfg.name,
            opener,
            describe=redact_url(url),
            queue_size=cfg.queue_size,
            reconnect_initial_seconds=cfg.reconnect_initial_seconds,
            reconnect_max_seconds=cfg.reconnect_max_seconds,
            max_fps=cfg.max_fps,
        )
