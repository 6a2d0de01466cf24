"""What every series read shares: the store, the range in its local buckets, and how gaps are told."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Connection

from central.api.queries.columns import Buckets
from central.api.queries.gaps import Coverage, coverage
from central.api.queries.stores import StoreRef
from central.api.timerange import Bucket, TimeRange
from central.config import GapConfig


@dataclass(frozen=True)
class SeriesRequest:
    """What every series read shares: the store, its buckets, and how gaps are told."""

    store: StoreRef
    rng: TimeRange
    bucket: Bucket
    now: float
    gaps: GapConfig

    @functools.cached_property
    def buckets(self) -> Buckets:
        return Buckets.of(self.rng, self.bucket, self.store.clock)

    def coverage(self, conn: Connection, camera_id: str | None) -> Coverage:
        return coverage(conn, self.store.store_id, camera_id, self.buckets, self.now, self.gaps)
