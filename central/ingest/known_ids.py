"""Bounds on how many cameras, zones and lines a store's pushed data may create.

Every camera, zone and line id in a push becomes rows of the store's rollups and
series in its responses; one push of 500,000 made-up zone ids stalled other
stores' pushes and made a store unreadable. Here the check stage refuses, item
by item, what would take a store past :class:`~central.config.CardinalityLimits`:
a new camera past ``max_cameras_per_store``; a new zone or line of a camera its
agent has not declared past ``max_zones_per_camera`` / ``max_lines_per_camera``
(a declared camera's ids are bounded by its layout, which validation enforces);
a summary with more than ``max_zone_entries_per_summary`` zone entries.

The ids each store has are read once (one round trip) and cached: items accepted
add theirs at once (so the next push is counted with them even before it commits).
After ``refresh_s`` the store's ids are read again and added to the cache, never
put in its place: ids accepted but not committed yet, or in a push that failed
and that its agent will resend, stay counted, so pushes in flight cannot pass a
bound together. Several replicas each count with their own cache: a store can
pass a bound by what the others accepted within one refresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine, literal, select, union_all

from central.config import CardinalityLimits
from central.db.schema import cameras, lines, zones
from central.ingest.items import Batch, Kind, SummaryColumns
from central.ingest.validate import Layout


@dataclass
class StoreIds:
    """The cameras of one store, and the zones and lines of each, as stored (plus what was accepted since)."""

    cameras: set[str] = field(default_factory=set)
    zones: dict[str, set[str]] = field(default_factory=dict)
    lines: dict[str, set[str]] = field(default_factory=dict)
    read_at: float = 0.0


class KnownIds:
    """Per-store cache of ids and the check of a batch against the bounds (thread safe)."""

    def __init__(self, engine: Engine, limits: CardinalityLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.limits = limits
        self.clock = clock
        self._stores: dict[str, StoreIds] = {}
        self._lock = threading.Lock()

    def load(self, store_id: str) -> None:
        """Read the store's ids unless the cache holds a fresh copy (raises the database's errors)."""
        now = self.clock()
        with self._lock:
            cached = self._stores.get(store_id)
            if cached is not None and now - cached.read_at < self.limits.refresh_s:
                return
        ids = self._read(store_id, now)
        with self._lock:
            cached = self._stores.setdefault(store_id, StoreIds())
            cached.cameras |= ids.cameras
            for mine, read in ((cached.zones, ids.zones), (cached.lines, ids.lines)):
                for camera, idents in read.items():
                    mine.setdefault(camera, set()).update(idents)
            cached.read_at = now

    def _read(self, store_id: str, now: float) -> StoreIds:
        query = union_all(
            select(cameras.c.camera_id, literal("c"), literal("")).where(cameras.c.store_id == store_id),
            select(zones.c.camera_id, literal("z"), zones.c.zone_id).where(zones.c.store_id == store_id),
            select(lines.c.camera_id, literal("l"), lines.c.line_id).where(lines.c.store_id == store_id),
        )
        ids = StoreIds(read_at=now)
        with self.engine.connect() as conn:
            for camera, what, ident in conn.execute(query):
                if what == "c":
                    ids.cameras.add(camera)
                else:
                    (ids.zones if what == "z" else ids.lines).setdefault(camera, set()).add(ident)
        return ids

    def refuse(
        self, batch: Batch, layouts: Mapping[str, Layout], rejected: Collection[tuple[Kind, int]]
    ) -> dict[tuple[Kind, int], str]:
        """The items of ``batch`` (not already in ``rejected``) that would take its store past a bound, each
        with the reason; the ids of the others count as the store's from now on. :meth:`load` first."""
        out: dict[tuple[Kind, int], str] = {}
        with self._lock:
            ids = self._stores.setdefault(batch.store_id, StoreIds(read_at=self.clock()))
            s = batch.summaries
            # the usual push brings nothing new: then no summary can pass a bound, and none is looked at alone
            unknown = [] if self._all_known(ids, s, layouts) else list(zip(s.camera_id, s.zone_dwell, strict=True))
            for i, (camera, dwell) in enumerate(unknown):
                if (Kind.SUMMARY, i) in rejected:
                    continue
                reason = self._entries_problem(len(dwell)) or self._admit(
                    ids, batch.store_id, camera, "zone", [z for z, _, _ in dwell], layouts
                )
                if reason:
                    out[(Kind.SUMMARY, i)] = reason
            for i, tile in enumerate(batch.tiles):
                if (Kind.TILE, i) not in rejected:
                    reason = self._admit(ids, batch.store_id, tile.row["camera_id"], "zone", [], layouts)
                    if reason:
                        out[(Kind.TILE, i)] = reason
            for i, uptime in enumerate(batch.uptimes):
                if (Kind.CAMERA_UPTIME, i) not in rejected:
                    reason = self._admit(ids, batch.store_id, uptime.row["camera_id"], "zone", [], layouts)
                    if reason:
                        out[(Kind.CAMERA_UPTIME, i)] = reason
            for i, count in enumerate(batch.line_counts):
                if (Kind.LINE_COUNT, i) not in rejected:
                    row = count.row
                    reason = self._admit(ids, batch.store_id, row["camera_id"], "line", [row["line_id"]], layouts)
                    if reason:
                        out[(Kind.LINE_COUNT, i)] = reason
        return out

    def _all_known(self, ids: StoreIds, s: SummaryColumns, layouts: Mapping[str, Layout]) -> bool:
        """Whether every camera and zone of the summaries is the store's already (or declared), and no summary
        has too many zone entries: then none of them can pass a bound."""
        if max(map(len, s.zone_dwell), default=0) > self.limits.max_zone_entries_per_summary:
            return False
        if not all(c in ids.cameras or c in layouts for c in set(s.camera_id)):
            return False
        pairs = {(c, z) for c, dwell in zip(s.camera_id, s.zone_dwell, strict=True) for z, _, _ in dwell}
        return all(c in layouts or z in ids.zones.get(c, ()) for c, z in pairs)

    def _entries_problem(self, entries: int) -> str | None:
        most = self.limits.max_zone_entries_per_summary
        if entries > most:
            return (
                f"{entries} zone_dwell entries: at most {most} per summary (cardinality.max_zone_entries_per_summary)"
            )
        return None

    def _admit(
        self, ids: StoreIds, store_id: str, camera: str, what: str, idents: list[str], layouts: Mapping[str, Layout]
    ) -> str | None:
        """None, and the camera and ids counted as the store's, when they fit the bounds; else the reason."""
        declared = camera in layouts  # its zones and lines are the layout's, which validation enforces
        if camera not in ids.cameras and not declared and len(ids.cameras) >= self.limits.max_cameras_per_store:
            return (
                f"camera {camera!r} would be store {store_id!r}'s camera number {len(ids.cameras) + 1}: at most "
                f"{self.limits.max_cameras_per_store} cameras per store (cardinality.max_cameras_per_store)"
            )
        new: set[str] = set()
        known = (ids.zones if what == "zone" else ids.lines).setdefault(camera, set())
        if not declared:
            new = {i for i in idents if i not in known}
            most = self.limits.max_zones_per_camera if what == "zone" else self.limits.max_lines_per_camera
            if len(known) + len(new) > most:
                shown = ", ".join(repr(i) for i in sorted(new)[:3]) + (", ..." if len(new) > 3 else "")
                return (
                    f"{what}(s) {shown} would give camera {camera!r} {len(known) + len(new)} {what}s: at most {most} "
                    f"learned {what}s per camera (cardinality.max_{what}s_per_camera); declare the camera's "
                    f"{what}s in the agent's heartbeat to use more"
                )
        ids.cameras.add(camera)
        known.update(new)
        return None
