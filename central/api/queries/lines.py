"""Line crossings per bucket, over the hourly rollup ``line_hourly``, in the store's local hours and days; a
bucket in which the line's camera is missing data (``central.api.queries.gaps``) has null counts."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from central.api.models import LinePoint, LineSeries, LinesOut, RangeOut
from central.api.queries.columns import (
    ResponseTooLargeError,
    as_int,
    series_cap,
    series_count,
    streamed,
    too_many_series,
)
from central.api.queries.series import SeriesRequest
from central.api.timerange import Bucket, iso
from central.db.schema import line_hourly, lines


def line_counts(
    conn: Connection,
    req: SeriesRequest,
    camera_id: str | None,
    line_id: str | None,
    max_points: int,
) -> LinesOut:
    """In and out counts per line and bucket; refused (:class:`ResponseTooLargeError`) when the lines times the
    buckets would pass ``max_points``, having read no more rows than that."""
    t = line_hourly.c
    buckets, bucket, store_id = req.buckets, req.bucket, req.store.store_id
    b = buckets.expr(t.hour).label("bucket")
    where = [t.store_id == store_id, t.hour >= buckets.lo, t.hour < buckets.hi]
    known = [lines.c.store_id == store_id]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
        known.append(lines.c.camera_id == camera_id)
    if line_id is not None:
        where.append(t.line_id == line_id)
        known.append(lines.c.line_id == line_id)
    starts = buckets.starts
    most = series_cap(max_points, len(starts))
    narrow = ("fewer days, bucket=day" if bucket is Bucket.HOUR else "fewer days") + (
        ", one camera_id or line_id" if camera_id is None else ", one line_id"
    )
    refusal = ResponseTooLargeError(too_many_series("line counts", most, len(starts), bucket.value, max_points, narrow))
    known_lines = select(lines.c.camera_id, lines.c.line_id).where(*known).limit(most + 1)
    per_line: dict[tuple[str, str], dict[int, tuple[int, int]]] = {
        (r.camera_id, r.line_id): {} for r in conn.execute(known_lines)
    }
    if len(per_line) > most or series_count(conn, [t.camera_id, t.line_id], where, most) > most:
        raise refusal
    query = (
        select(
            b,
            t.camera_id,
            t.line_id,
            func.sum(t.in_count).label("in_count"),
            func.sum(t.out_count).label("out_count"),
        )
        .where(*where)
        .group_by(b, t.camera_id, t.line_id)
    )
    for row in streamed(conn, query):
        key = (row.camera_id, row.line_id)
        if key not in per_line and len(per_line) >= most:  # lines with counts but no longer listed
            raise refusal
        values = per_line.setdefault(key, {})
        start = buckets.start_of(int(row.bucket))
        before = values.get(start, (0, 0))
        values[start] = (before[0] + as_int(row.in_count), before[1] + as_int(row.out_count))
    gaps = req.coverage(conn, camera_id)
    series = []
    for (cam, line), values in sorted(per_line.items()):
        points = []
        for i, s in enumerate(starts):
            seen = gaps.at(i, (cam,))
            counts = (None, None) if seen.missing else values.get(s, (0, 0))
            points.append(
                LinePoint(
                    ts=s,
                    time=iso(s),
                    local=buckets.local(s),
                    missing=seen.missing,
                    coverage=seen.fraction,
                    in_count=counts[0],
                    out_count=counts[1],
                )
            )
        series.append(
            LineSeries(
                camera_id=cam,
                line_id=line,
                in_count=sum(p.in_count or 0 for p in points),
                out_count=sum(p.out_count or 0 for p in points),
                points=points,
            )
        )
    return LinesOut(
        store_id=store_id, timezone=req.store.timezone, range=RangeOut.of(req.rng), bucket=bucket, lines=series
    )
