"""Video sources: one module per source type, joined by an explicit registry.

Public API (what the runner uses)::

    from edgesight.sources import open_source

    src = open_source(cfg)          # cfg: one entry of PipelineConfig.sources (a SourceConfig)
    for frame in src.frames():      # edgesight.types.Frame: image (H, W, 3) uint8 BGR, pts = stream seconds
        ...
    src.stats()                     # {"state", "decoded", "delivered", "dropped", "subsampled", "corrupt",
                                    #  "reconnects", "fps", ...}
    src.close()                     # ends frames(); safe to call from another thread, and twice

Behaviour by type (see each module):

- ``file``: decoded in the caller's thread, no frame ever dropped; ``realtime: true`` paces at the
  file's fps in a reader thread and drops the oldest queued frame like a live camera (``is_live`` True).
  Raises ``SourceError`` at open when the file is missing or not a decodable video.
- ``images``: a folder in natural name order, ``pts = i / fps``; unreadable files are skipped and counted.
- ``stream`` / ``usb``: live. A decode thread pushes into a bounded queue that drops the OLDEST frame when
  full (never blocks); lost streams reconnect with exponential backoff + jitter; ``state`` goes
  connecting -> streaming -> reconnecting -> streaming ... -> closed. They never raise at open: a camera
  that is down at start is retried like one that drops later. ``pts`` = monotonic seconds since open.

``max_fps`` (all types) keeps at most that many frames per second of stream time; the rest are counted
in ``subsampled``. ``Frame.index`` counts decoded frames, so gaps show what was skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from edgesight.config import (
    FileSourceConfig,
    ImagesSourceConfig,
    SourceConfig,
    StreamSourceConfig,
    UsbSourceConfig,
)
from edgesight.errors import SourceError
from edgesight.protocols import Source
from edgesight.sources.file import FileSource
from edgesight.sources.images import ImagesSource
from edgesight.sources.stream import StreamSource
from edgesight.sources.usb import UsbSource

__all__ = ["SOURCE_TYPES", "FileSource", "ImagesSource", "StreamSource", "UsbSource", "open_source"]

# Explicit registry: config class -> source class. Read-only, so it is not shared mutable state.
SOURCE_TYPES: Mapping[type[Any], Callable[[Any], Source]] = MappingProxyType(
    {
        FileSourceConfig: FileSource,
        ImagesSourceConfig: ImagesSource,
        StreamSourceConfig: StreamSource,
        UsbSourceConfig: UsbSource,
    }
)


def open_source(cfg: SourceConfig) -> Source:
    """Build the source described by ``cfg`` (file sources are opened at once, live ones start connecting).

    Raises:
        SourceError: the source cannot be opened (missing file, not a video, empty image folder) or the
            config is not a source config.
    """
    factory = SOURCE_TYPES.get(type(cfg))
    if factory is None:
        raise SourceError(
            f"expected a source config ({', '.join(sorted(c.__name__ for c in SOURCE_TYPES))}), "
            f"got {type(cfg).__name__}"
        )
    return factory(cfg)
