"""``usb`` source: a local camera (V4L2 on Linux) read in its own thread.

Same machinery as network streams (``_live.LiveCapture``): drop-oldest queue, reconnection with
exponential backoff when the camera is unplugged or stops delivering, state and counters.
"""

from __future__ import annotations

import sys

import cv2

from edgesight.config import UsbSourceConfig
from edgesight.sources._live import LiveCapture

__all__ = ["UsbSource"]


class UsbSource(LiveCapture):
    """A local camera as a live source. ``pts``: monotonic seconds since the source was opened."""

    def __init__(self, cfg: UsbSourceConfig) -> None:
        self.cfg = cfg
        device = cfg.device
        # An index like "0" written as a string in YAML still means a camera index.
        if isinstance(device, str) and device.isdigit():
            device = int(device)
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        width, height = cfg.width, cfg.height

        def opener() -> cv2.VideoCapture:
            cap = cv2.VideoCapture(device, api)
            if cap.isOpened():
                if width:
                    cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                if height:
                    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            return cap

        super().__init__(
            cfg.name,
            opener,
            describe=f"camera {device}",
            queue_size=cfg.queue_size,
            reconnect_initial_seconds=cfg.reconnect_initial_seconds,
            reconnect_max_seconds=cfg.reconnect_max_seconds,
            max_fps=cfg.max_fps,
        )
