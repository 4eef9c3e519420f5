"""A small live web page for a running pipeline: annotated video, events as they happen, run stats.

No extra dependencies (stdlib ``http.server``), no external resources on the page (devices are
offline), bound to 127.0.0.1 unless told otherwise. It is a viewer, not the fleet dashboard.

Public API:
    LiveView(port=0, host="127.0.0.1", store_root=None, title="edgesight", *, max_fps=10,
             idle_fps=1, jpeg_quality=80, max_events=200, write_timeout=5)
        .start() -> port      bind and serve in a daemon thread (idempotent)
        .url                  e.g. "http://127.0.0.1:8080/"
        .stop()               close clients, join threads, free the port (idempotent)
        context manager       ``with LiveView() as view: ...``
        .publish_frame(source_id, image_bgr) -> bool   latest frame per source; (H, W, 3) uint8 BGR.
                              Never blocks or encodes: kept at most max_fps/s while watched,
                              idle_fps/s otherwise; JPEG-encoded lazily by the client threads.
        .wants_frame(source_id) -> bool                skip drawing frames that would be dropped
        .publish_event(event)  one Event message (any state); last max_events kept, counts by kind
        .publish_stats(summary) run summary (PipelineMetrics.summary() layout) for the header
        .watched -> bool      a client is connected (or was, within 5 s): skip work nobody sees
        .state() -> dict      what /api/state returns
    LiveViewSink(view, cfg=None, *, stats=None)   an EventSink drawing zones/lines/boxes
    attach(runner, view) -> LiveViewSink          add that sink to a Runner before run()

HTTP:
    /                          the page
    /stream/<source>.mjpg      MJPEG (multipart/x-mixed-replace)
    /frame/<source>.jpg        newest frame, one JPEG
    /events                    Server-Sent Events ("event": an Event as JSON, id = view message
                               number; "state": the /api/state object); resumes from Last-Event-ID
    /api/events?after=N[&limit=K]  JSON {"last": N, "events": [{"n": N, "event": {...}}, ...]}
    /api/state                 JSON {"title", "sources": {name: {width, height, frames_offered,
                               frames_kept, viewers}}, "stats", "counts" (events by kind),
                               "messages" (messages by kind), "last_event", "version"}
    /snapshots/<relative path> files under store_root only (anything else: 404)

Example::

    from edgesight.pipeline.runner import Runner
    from edgesight.web import LiveView, attach

    with LiveView(port=8080) as view:
        runner = Runner(cfg)
        attach(runner, view)
        print("open", view.url)
        result = runner.run()
        view.publish_stats(result.summary)
"""

from edgesight.web.live_view import LiveView
from edgesight.web.sink import LiveViewSink, attach

__all__ = ["LiveView", "LiveViewSink", "attach"]
