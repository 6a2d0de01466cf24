"""Which buckets of a series are missing data: hours in which a known camera was not (or not long enough)
connected, or its agent sent nothing, read from the uptime rollup ``uptime_hourly``.

A camera is judged from the first uptime bucket its agent reported (``cameras.uptime_since``): cameras of
agents that never report uptime are not judged, and their series read as before. From then on, each of its
hours is *covered* when the uptime reported for it reaches ``gaps.min_uptime_fraction`` of the hour, and
*missing* otherwise (a disconnected camera reports little or none; a silent agent reports nothing). Hours that
ended less than ``gaps.pending_s`` ago are not judged yet.

A bucket's ``coverage`` is its covered camera-hours over its judged camera-hours (of the cameras the series
sums); it is ``missing`` when any judged camera-hour in it is not covered: a total with a hole in it is not the
store's total, so its values are null rather than a number that reads as a quiet hour. A series of one camera
(or of one camera's zones or lines) is judged by that camera alone.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from central.api.queries.columns import Buckets
from central.config import GapConfig
from central.db.schema import cameras, uptime_hourly
from central.timebuckets import HOUR, hour_of


@dataclass(frozen=True)
class BucketCoverage:
    covered: int  # camera-hours covered
    judged: int  # camera-hours judged

    @property
    def missing(self) -> bool:
        return self.covered < self.judged

    @property
    def fraction(self) -> float | None:
        return self.covered / self.judged if self.judged else None


NOT_JUDGED = BucketCoverage(0, 0)


@dataclass(frozen=True)
class Coverage:
    """Per camera and bucket (in :class:`Buckets` order), the hours judged and the hours covered."""

    judged: dict[str, list[int]]
    covered: dict[str, list[int]]

    def at(self, i: int, camera_ids: Collection[str] | None = None) -> BucketCoverage:
        """Bucket ``i`` over ``camera_ids`` (every judged camera when None)."""
        if not self.judged:
            return NOT_JUDGED
        cams = self.judged.keys() if camera_ids is None else [c for c in camera_ids if c in self.judged]
        return BucketCoverage(sum(self.covered[c][i] for c in cams), sum(self.judged[c][i] for c in cams))

    def any_missing(self, camera_ids: Collection[str] | None = None) -> bool:
        cams = self.judged.keys() if camera_ids is None else [c for c in camera_ids if c in self.judged]
        return any(
            covered < judged for c in cams for covered, judged in zip(self.covered[c], self.judged[c], strict=True)
        )


def coverage(
    conn: Connection, store_id: str, camera_id: str | None, buckets: Buckets, now: float, gaps: GapConfig
) -> Coverage:
    """The coverage of the store's judged cameras (or of ``camera_id`` alone) over ``buckets``: two indexed
    reads, the cameras' first reports and the covered hours counted per camera and bucket."""
    c = cameras.c
    where = [c.store_id == store_id, c.uptime_since.is_not(None)]
    if camera_id is not None:
        where.append(c.camera_id == camera_id)
    since = {
        r.camera_id: hour_of(r.uptime_since) for r in conn.execute(select(c.camera_id, c.uptime_since).where(*where))
    }
    if not since:
        return Coverage({}, {})
    judged_end = hour_of(now - gaps.pending_s)
    spans = buckets.spans()
    judged = {
        cam: [max(0, (min(end, judged_end) - max(start, first)) // HOUR) for start, end in spans]
        for cam, first in since.items()
    }
    covered = {cam: [0] * len(spans) for cam in since}
    index = {start: i for i, start in enumerate(buckets.starts)}
    u = uptime_hourly.c
    label = buckets.expr(u.hour).label("bucket")
    rows_where = [
        u.store_id == store_id,
        u.hour >= buckets.lo,
        u.hour < min(buckets.hi, judged_end),
        u.seconds_up >= gaps.min_uptime_fraction * HOUR,
    ]
    if camera_id is not None:
        rows_where.append(u.camera_id == camera_id)
    query = select(u.camera_id, label, func.count().label("covered")).where(*rows_where).group_by(u.camera_id, label)
    for row in conn.execute(query):
        i = index.get(buckets.start_of(int(row.bucket)))
        first = since.get(row.camera_id)
        if i is not None and first is not None:  # hours before a camera's first report are not judged
            covered[row.camera_id][i] = min(int(row.covered), judged[row.camera_id][i])
    return Coverage(judged, covered)
