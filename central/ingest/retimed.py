"""A track already stored under another start time is one visit, not two.

A summary's key is its store, start time and UUID, which keeps inserts at the
end of the index (see ``central/db/schema.py``). A resend carries the same start
and is a duplicate; but a summary whose start changed (an agent whose clock was
stepped, or one that misbehaves) would be stored, and counted, a second time.
The check stage looks each accepted UUID up among the store's summaries that
start within :data:`WINDOW_S` of it, through the same index (a range of it, not
a lookup per UUID in an index of every UUID ever stored, which the key avoids
for speed). A copy further apart than that is not found: it would need that index.
Five minutes covers a clock stepped by NTP; an hour cost a quarter of ingest's
rate on a dense store (every push scanned an hour of the store's summaries).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from central.db.schema import track_summaries
from central.ingest.items import SummaryColumns
from central.ingest.items import bucket_key as iso_time
from central.ingest.sql import starts_sql

WINDOW_S = 300.0
_CHUNK = 500  # UUIDs per query


def retimed(engine: Engine, store_id: str, columns: SummaryColumns, accepted: Sequence[int]) -> dict[int, str]:
    """The accepted summaries (positions in ``columns``) whose UUID is stored, or earlier in the batch, with
    another start time, and why each is refused."""
    starts = {i: float(columns.start_ts[i]) for i in accepted}
    ids = sorted({columns.track_id[i] for i in accepted})
    if not ids:
        return {}
    lo, hi = min(starts.values()) - WINDOW_S, max(starts.values()) + WINDOW_S
    stored: dict[str, float] = {}
    with engine.connect() as conn:
        for k in range(0, len(ids), _CHUNK):
            chunk = ids[k : k + _CHUNK]
            # driver SQL built once per chunk size: SQLAlchemy's compiler costs more per UUID than the lookup
            sql = starts_sql(engine.dialect, track_summaries, len(chunk))
            stored.update(conn.exec_driver_sql(sql, (store_id, lo, hi, *chunk)).all())
    # each UUID's start is the stored one, else the first in the push; any other start is refused
    reference = dict(stored)
    out: dict[int, str] = {}
    for i in accepted:
        track_id = columns.track_id[i]
        start = reference.setdefault(track_id, starts[i])
        if start != starts[i]:
            out[i] = _reason(track_id, start, "already stored" if track_id in stored else "earlier in this push")
    return out


def _reason(track_id: str, start: float, where: str) -> str:
    return (
        f"track {track_id} is {where} with start time {iso_time(start)}: one track is one visit "
        "(a resend must keep its start time)"
    )
