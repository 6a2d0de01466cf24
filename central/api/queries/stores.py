"""Stores and their cameras, zones and lines as the API lists them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from central.api.models import CameraOut, StoreList, StoreOut
from central.api.queries.columns import ResponseTooLargeError, as_int
from central.db.schema import cameras, lines, stores, zones
from central.localtime import DEFAULT_ZONE, LocalClock


@dataclass(frozen=True)
class StoreRef:
    store_id: str
    name: str
    timezone: str = DEFAULT_ZONE

    @property
    def clock(self) -> LocalClock:
        return LocalClock(self.timezone)


def find_store(conn: Connection, store_id: str) -> StoreRef | None:
    s = stores.c
    row = conn.execute(select(s.store_id, s.name, s.timezone).where(s.store_id == store_id)).first()
    return StoreRef(row.store_id, row.name, row.timezone) if row is not None else None


def camera_exists(conn: Connection, store_id: str, camera_id: str) -> bool:
    query = select(cameras.c.camera_id).where(cameras.c.store_id == store_id, cameras.c.camera_id == camera_id)
    return conn.execute(query).first() is not None


def layout_size(conn: Connection, store_ids: Sequence[str]) -> int:
    """Cameras, zones and lines of these stores: the entries their listing holds."""
    return sum(
        as_int(conn.execute(select(func.count()).select_from(t).where(t.c.store_id.in_(store_ids))).scalar())
        for t in (cameras, zones, lines)
    )


def _stores(conn: Connection, store_ids: Sequence[str], max_ids: int) -> list[StoreOut]:
    """The stores with their layouts; refused (:class:`ResponseTooLargeError`) past ``max_ids`` entries."""
    if not store_ids:
        return []
    size = layout_size(conn, store_ids)
    if size > max_ids:
        whose = (
            f"store {store_ids[0]!r} has" if len(store_ids) == 1 else f"the {len(store_ids)} stores of this page have"
        )
        narrow = (
            "ask for fewer stores per page (a smaller limit)"
            if len(store_ids) > 1
            else "its agents declare more zones and lines than this server is set to list"
        )
        raise ResponseTooLargeError(
            f"{whose} {size} cameras, zones and lines, over the {max_ids} one response may list "
            f"(responses.max_layout_ids): {narrow}"
        )
    rows = conn.execute(
        select(stores.c.store_id, stores.c.name, stores.c.created_at, stores.c.timezone)
        .where(stores.c.store_id.in_(store_ids))
        .order_by(stores.c.store_id)
    ).all()
    zone_ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for z in conn.execute(
        select(zones.c.store_id, zones.c.camera_id, zones.c.zone_id)
        .where(zones.c.store_id.in_(store_ids))
        .order_by(zones.c.zone_id)
    ):
        zone_ids[z.store_id, z.camera_id].append(z.zone_id)
    line_ids: dict[tuple[str, str], list[str]] = defaultdict(list)
    for li in conn.execute(
        select(lines.c.store_id, lines.c.camera_id, lines.c.line_id)
        .where(lines.c.store_id.in_(store_ids))
        .order_by(lines.c.line_id)
    ):
        line_ids[li.store_id, li.camera_id].append(li.line_id)
    cams: dict[str, list[CameraOut]] = defaultdict(list)
    for c in conn.execute(select(cameras).where(cameras.c.store_id.in_(store_ids)).order_by(cameras.c.camera_id)):
        key = (c.store_id, c.camera_id)
        cams[c.store_id].append(
            CameraOut(
                camera_id=c.camera_id,
                first_seen=c.first_seen,
                last_seen=c.last_seen,
                declared=bool(c.declared),
                zones=zone_ids.get(key, []),
                lines=line_ids.get(key, []),
            )
        )
    return [
        StoreOut(
            store_id=r.store_id,
            name=r.name,
            created_at=r.created_at,
            timezone=r.timezone,
            cameras=cams.get(r.store_id, []),
        )
        for r in rows
    ]


def list_stores(conn: Connection, limit: int, offset: int, max_ids: int) -> StoreList:
    total = as_int(conn.execute(select(func.count()).select_from(stores)).scalar())
    ids = conn.execute(select(stores.c.store_id).order_by(stores.c.store_id).limit(limit).offset(offset)).scalars()
    return StoreList(stores=_stores(conn, list(ids), max_ids), total=total, limit=limit, offset=offset)


def get_store(conn: Connection, store_id: str, max_ids: int) -> StoreOut:
    found = _stores(conn, [store_id], max_ids)
    if not found:
        raise LookupError(store_id)
    return found[0]
