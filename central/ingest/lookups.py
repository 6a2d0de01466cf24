"""What validating a push reads of its store: the layouts its agents declared, the grid shapes stored per day."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import Engine, literal, select, tuple_, union_all

from central.db.schema import cameras, heatmap_daily, lines, zones
from central.ingest.items import TileIn
from central.ingest.validate import Layout
from central.timebuckets import day_of
from retail_common.ids import is_id


def declared_layouts(engine: Engine, store_id: str, camera_ids: Iterable[str]) -> dict[str, Layout]:
    """Declared zones and lines of the batch's cameras that an agent has declared."""
    wanted = sorted(set(camera_ids))
    if not wanted:
        return {}
    # one round trip: the declared cameras ("c"), and the zones ("z") and lines ("l") of the wanted ones
    query = union_all(
        select(cameras.c.camera_id, literal("c"), literal("")).where(
            cameras.c.store_id == store_id, cameras.c.camera_id.in_(wanted), cameras.c.declared
        ),
        select(zones.c.camera_id, literal("z"), zones.c.zone_id).where(
            zones.c.store_id == store_id, zones.c.camera_id.in_(wanted)
        ),
        select(lines.c.camera_id, literal("l"), lines.c.line_id).where(
            lines.c.store_id == store_id, lines.c.camera_id.in_(wanted)
        ),
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found = {cam: (set[str](), set[str]()) for cam, what, _ in rows if what == "c"}
    for cam, what, ident in rows:
        if cam in found and what != "c":
            found[cam][0 if what == "z" else 1].add(ident)
    return {c: Layout(frozenset(z), frozenset(ln)) for c, (z, ln) in found.items()}


def day_shapes(engine: Engine, store_id: str, tiles: Sequence[TileIn]) -> dict[tuple[str, int], tuple[int, int]]:
    """The grid shape already stored for each camera and day the tiles fall on: a day keeps one shape."""
    keys = sorted(
        {
            (t.row["camera_id"], day_of(t.row["bucket_start"]))
            for t in tiles
            # a missing start or a bad id is the validator's to report
            if math.isfinite(t.row["bucket_start"]) and is_id(t.row["camera_id"])
        }
    )
    if not keys:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(heatmap_daily.c.camera_id, heatmap_daily.c.day, heatmap_daily.c.rows, heatmap_daily.c.cols).where(
                heatmap_daily.c.store_id == store_id,
                tuple_(heatmap_daily.c.camera_id, heatmap_daily.c.day).in_(keys),
            )
        )
        return {(cam, day): (r, c) for cam, day, r, c in rows}
