"""The simulated day that is still going on: what an agent has reported of it by now."""

from __future__ import annotations

from dataclasses import replace

from fleet_sim.generate import StoreDay


def until(day: StoreDay, now: float) -> StoreDay:
    """``day`` as far as it has gone by ``now``: its finished tracks and its closed buckets."""
    return replace(
        day,
        summaries=tuple(s for s in day.summaries if s.end_time <= now),
        tiles=tuple(t for t in day.tiles if t.bucket_start + t.bucket_seconds <= now),
        counts=tuple(c for c in day.counts if c.bucket_start + c.bucket_seconds <= now),
        uptimes=tuple(u for u in day.uptimes if u.bucket_start + u.bucket_seconds <= now),
    )
