"""Local event storage: SQLite (WAL) rows + JPEG snapshots with retention (see :mod:`.event_store`).

store = EventStore(cfg.store)                 # writer: creates <path>/events.db, snapshots/
stored = store.save(event, jpeg_or_None)      # upsert on id (highest seq wins); returns event + snapshot path
store.save(event, jpeg, also=lambda conn: ...)  # extra writes in the same transaction (outbox)
EventStore.open(path).list(kind="dwell", since=t0, limit=50)   # reader (CLI, other process)
"""

from edgesight.store.event_store import DB_NAME, EventRecord, EventStore, PruneReport, StoreError

__all__ = ["DB_NAME", "EventRecord", "EventStore", "PruneReport", "StoreError"]
