"""Line crossings per bucket, over the hourly rollup ``line_hourly``."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from central.api.models import LinePoint, LineSeries, LinesOut, RangeOut
from central.api.queries.columns import (
    ResponseTooLargeError,
    as_int,
    bounds,
    bucket_expr,
    series_cap,
    series_count,
    streamed,
    too_many_series,
)
from central.api.timerange import Bucket, TimeRange, iso
from central.db.schema import line_hourly, lines


def line_counts(
    conn: Connection,
    store_id: str,
    rng: TimeRange,
    bucket: Bucket,
    camera_id: str | None,
    line_id: str | None,
    max_points: int,
) -> LinesOut:
    """In and out counts per line and bucket; refused (:class:`ResponseTooLargeError`) when the lines times the
    buckets would pass ``max_points``, having read no more rows than that."""
    t = line_hourly.c
    b = bucket_expr(t.hour, bucket).label("bucket")
    lo, hi = bounds(rng, bucket)
    where = [t.store_id == store_id, t.hour >= lo, t.hour < hi]
    known = [lines.c.store_id == store_id]
    if camera_id is not None:
        where.append(t.camera_id == camera_id)
        known.append(lines.c.camera_id == camera_id)
    if line_id is not None:
        where.append(t.line_id == line_id)
        known.append(lines.c.line_id == line_id)
    starts = rng.buckets(bucket)
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
        per_line.setdefault(key, {})[int(row.bucket)] = (as_int(row.in_count), as_int(row.out_count))
    series = []
    for (cam, line), values in sorted(per_line.items()):
        points = [
            LinePoint(ts=s, time=iso(s), in_count=values.get(s, (0, 0))[0], out_count=values.get(s, (0, 0))[1])
            for s in starts
        ]
        series.append(
            LineSeries(
                camera_id=cam,
                line_id=line,
                in_count=sum(v[0] for v in values.values()),
                out_count=sum(v[1] for v in values.values()),
                points=points,
            )
        )
    return LinesOut(store_id=store_id, range=RangeOut.of(rng), bucket=bucket, lines=series)
