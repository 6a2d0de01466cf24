"""Stored track summaries: one by id, or keyset-paged newest first along the ``(store_id, start_ts)`` index."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select
from sqlalchemy.sql.elements import KeyedColumnElement

from central.api.models import TrackOut, TrackPage, ZoneDwellOut
from central.api.queries.columns import UNCLASSIFIED, parse_json
from central.api.timerange import TimeRange, iso
from central.db import paths
from central.db.schema import track_summaries, written_columns
from retail_common.taxonomy import CONFIDENT_AT

logger = logging.getLogger(__name__)


class BadCursorError(ValueError):
    """A paging cursor this server did not make."""


def encode_cursor(start_ts: float, track_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ts!r}|{track_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, sep, track_id = raw.partition("|")
        ts = float(ts_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursorError(cursor) from None
    if not sep or not track_id or not math.isfinite(ts) or "\x00" in track_id:
        raise BadCursorError(cursor)
    return ts, track_id


def _zone_needles(zone_id: str) -> set[str]:
    # zone_order is JSON text: the id appears quoted, escaped as json or orjson would write it
    return {json.dumps(zone_id), json.dumps(zone_id, ensure_ascii=False)}


def _contains(conn: Connection, column: KeyedColumnElement[Any], needle: str) -> ColumnElement[bool]:
    # exact, case-sensitive substring test (SQLite's LIKE ignores ASCII case)
    if conn.dialect.name == "postgresql":
        return func.strpos(column, needle) > 0
    return func.instr(column, needle) > 0


# what a summary row holds as ingest makes it (the database numbers the id)
TRACK_COLUMNS = frozenset(c.name for c in written_columns(track_summaries))


def _path(blob: bytes, where: str) -> list[list[float]]:
    try:
        return paths.readable(blob)
    except ValueError as e:
        logger.warning("%s: path not shown: %s", where, e)
        return []


def track_out(row: Mapping[Any, Any]) -> TrackOut:
    """A stored summary row (JSON columns as text) as the API shows it; also used for live events."""
    where = f"track {row['track_id']}"
    zone_dwell = [
        ZoneDwellOut(zone_id=str(z[0]), seconds=float(z[1]), visits=int(z[2]))
        for z in parse_json(row["zone_dwell"], [], where)
        if isinstance(z, list) and len(z) >= 3
    ]
    return TrackOut(
        track_id=row["track_id"],
        store_id=row["store_id"],
        camera_id=row["camera_id"],
        start_ts=row["start_ts"],
        end_ts=row["end_ts"],
        start=iso(row["start_ts"]),
        dwell_s=row["dwell_s"],
        distance_m=row["distance_m"],
        mean_speed_mps=row["mean_speed_mps"],
        max_speed_mps=row["max_speed_mps"],
        stop_count=row["stop_count"],
        behavior=row["behavior"],
        probabilities=parse_json(row["probabilities"], {}, where),
        behavior_confidence=row["behavior_confidence"],
        uncertain=row["behavior_confidence"] is not None and row["behavior_confidence"] < CONFIDENT_AT,
        zone_dwell=zone_dwell,
        zone_order=[str(z) for z in parse_json(row["zone_order"], [], where)],
        path=_path(row["path"], where),
        detector_model=row["detector_model"],
        behavior_model=row["behavior_model"],
        received_at=row["received_at"],
    )


def tracks(
    conn: Connection,
    store_id: str,
    rng: TimeRange,
    limit: int,
    cursor: str | None,
    camera_id: str | None,
    zone_id: str | None,
    behavior_label: str | None,
    uncertain: bool | None = None,
) -> TrackPage:
    """Newest first, keyset-paged on ``(start_ts, track_id)`` along the ``(store_id, start_ts)`` index;
    ``uncertain`` keeps only labels below (True) or at and above (False) :data:`CONFIDENT_AT`."""
    t = track_summaries.c
    where: list[ColumnElement[bool]] = [t.store_id == store_id, t.start_ts >= rng.start, t.start_ts < rng.end]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
    if behavior_label == UNCLASSIFIED:
        where.append(t.behavior.is_(None))
    elif behavior_label is not None:
        where.append(t.behavior == behavior_label)
    if uncertain is True:
        where.append(t.behavior_confidence < CONFIDENT_AT)
    elif uncertain is False:
        where.append(t.behavior_confidence >= CONFIDENT_AT)
    if zone_id is not None:
        where.append(or_(*(_contains(conn, t.zone_order, needle) for needle in _zone_needles(zone_id))))
    if cursor is not None:
        after_ts, after_id = decode_cursor(cursor)
        where.append(or_(t.start_ts < after_ts, and_(t.start_ts == after_ts, t.track_id < after_id)))
    rows = conn.execute(
        select(track_summaries).where(*where).order_by(t.start_ts.desc(), t.track_id.desc()).limit(limit + 1)
    ).all()
    items = [track_out(r._mapping) for r in rows[:limit]]
    more = len(rows) > limit
    return TrackPage(
        items=items, limit=limit, next_cursor=encode_cursor(items[-1].start_ts, items[-1].track_id) if more else None
    )


def track(conn: Connection, store_id: str, track_id: str) -> TrackOut | None:
    """The store's summary of that track. There is no index of track ids alone (it would put every insert at
    a random place): the store's part of the ``(store_id, start_ts, track_id)`` key is searched instead."""
    t = track_summaries.c
    row = conn.execute(
        select(track_summaries).where(t.store_id == store_id, t.track_id == track_id).order_by(t.start_ts).limit(1)
    ).first()
    return track_out(row._mapping) if row is not None else None
