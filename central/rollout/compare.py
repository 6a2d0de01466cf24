"""Canary stores against the rest, from the hourly rollups (``traffic_hourly``, whole-camera rows): the label
mix the planner judges, and the A/B comparison an analyst reads before promoting.

Both compare the same hours: from the hour the canary stores all ran the version (or the rollout started)
to the current hour. The comparison adds the canary stores' own same hours one week earlier, so that a
store that is simply different from the others is not mistaken for a model that changed its answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, func, select

from central.db.schema import BEHAVIOR_COLUMNS, UNCLASSIFIED_COLUMN, rollout_stores, rollouts, traffic_hourly
from central.rollout.policy import LabelMix
from central.timebuckets import HOUR, hour_of

WEEK = 7 * 24 * HOUR


class GroupOut(BaseModel):
    stores: int = Field(description="stores in the group")
    visits: int
    dwell_s: float = Field(description="total seconds of every visit")
    mean_dwell_s: float | None = Field(description="None without visits")
    behavior: dict[str, int] = Field(description="classified visits per behaviour label")
    behavior_share: dict[str, float] = Field(description="each label's share of the classified visits")
    unclassified: int


class ComparisonOut(BaseModel):
    rollout_id: str
    start: float = Field(description="first hour compared (epoch seconds, UTC)")
    end: float = Field(description="end of the last hour compared")
    canary: GroupOut = Field(description="canary stores over the hours")
    rest: GroupOut = Field(description="every other store over the same hours")
    canary_previous_week: GroupOut = Field(description="canary stores over the same hours one week earlier")


def _sums(conn: Connection, canary: Sequence[str], start: int, end: int, inside: bool) -> tuple[list[float], int]:
    """Summed counters of the canary stores (``inside``) or of every other store, and how many stores."""
    t = traffic_hourly.c
    columns = [t.visits, t.dwell_s, *(t[c] for c in BEHAVIOR_COLUMNS.values()), t[UNCLASSIFIED_COLUMN]]
    members = t.store_id.in_(bindparam("canary", list(canary), expanding=True))
    query = select(*(func.coalesce(func.sum(c), 0) for c in columns), func.count(func.distinct(t.store_id))).where(
        t.zone_id == "", t.hour >= start, t.hour < end, members if inside else ~members
    )
    row = conn.execute(query).one()
    return [float(v) for v in row[:-1]], int(row[-1])


def _group(values: list[float], stores: int) -> GroupOut:
    visits, dwell = int(values[0]), float(values[1])
    behavior = {label: int(v) for label, v in zip(BEHAVIOR_COLUMNS, values[2:-1], strict=True)}
    classified = sum(behavior.values())
    return GroupOut(
        stores=stores,
        visits=visits,
        dwell_s=round(dwell, 3),
        mean_dwell_s=round(dwell / visits, 3) if visits else None,
        behavior=behavior,
        behavior_share={k: round(v / classified, 4) for k, v in behavior.items()} if classified else {},
        unclassified=int(values[-1]),
    )


def window(observe_from: float | None, created_at: float, now: float) -> tuple[int, int]:
    """The hours compared: from the hour the observation (or the rollout) started to the end of this hour."""
    return hour_of(observe_from if observe_from is not None else created_at), hour_of(now) + HOUR


def label_mix(conn: Connection, canary: Sequence[str], start: int, end: int) -> LabelMix:
    """Classified visits per label at the canary stores and at every other store, over ``[start, end)``."""
    inside, _ = _sums(conn, canary, start, end, inside=True)
    outside, _ = _sums(conn, canary, start, end, inside=False)
    labels = list(BEHAVIOR_COLUMNS)
    return LabelMix(
        canary={k: int(v) for k, v in zip(labels, inside[2:-1], strict=True)},
        rest={k: int(v) for k, v in zip(labels, outside[2:-1], strict=True)},
    )


def comparison(conn: Connection, rollout_id: str, canary: Sequence[str], start: int, end: int) -> ComparisonOut:
    return ComparisonOut(
        rollout_id=rollout_id,
        start=start,
        end=end,
        canary=_group(*_sums(conn, canary, start, end, inside=True)),
        rest=_group(*_sums(conn, canary, start, end, inside=False)),
        canary_previous_week=_group(*_sums(conn, canary, start - WEEK, end - WEEK, inside=True)),
    )


def rollout_comparison(conn: Connection, rollout_id: str, now: float) -> ComparisonOut | None:
    """The A/B comparison of a rollout over its hours so far; None when there is no such rollout."""
    r, s = rollouts.c, rollout_stores.c
    row = conn.execute(select(r.observe_from, r.created_at).where(r.rollout_id == rollout_id)).first()
    if row is None:
        return None
    canary = list(conn.execute(select(s.store_id).where(s.rollout_id == rollout_id, s.canary)).scalars())
    start_hour, end_hour = window(row.observe_from, row.created_at, now)
    return comparison(conn, rollout_id, canary, start_hour, end_hour)
