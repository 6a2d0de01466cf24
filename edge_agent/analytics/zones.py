"""Polygon zones: entries, exits and dwell per visit, robust to flicker at the border.

A visit starts once a person's feet have been inside for ``enter_after_s`` and
ends once they have been outside for ``exit_after_s``; the visit runs from the
first to the last observation inside, so the debounce delays the decision but
not the measured dwell. A track that ends while inside closes its visit at its
last observation inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge_agent.config.models import ZoneConfig


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which of the (N, 2) points lie inside the (M, 2) polygon (even-odd rule)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (x < x_cross)
    return np.asarray(crossings.sum(axis=1) % 2 == 1)


@dataclass(frozen=True)
class ZoneVisit:
    zone_id: str
    start: float
    end: float

    @property
    def dwell_s(self) -> float:
        return self.end - self.start


@dataclass
class _State:
    inside: bool = False
    candidate_since: float | None = None  # first inside observation of a not yet confirmed visit
    visit_start: float = 0.0
    last_inside: float = 0.0
    outside_since: float | None = None


@dataclass
class ZoneMonitor:
    """Visit state of every track for one zone."""

    zone: ZoneConfig
    polygon: np.ndarray = field(init=False)
    _states: dict[int, _State] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.polygon = np.asarray(self.zone.polygon, dtype=np.float64)

    def update(self, t: float, track_ids: Sequence[int], feet_px: np.ndarray) -> list[tuple[int, ZoneVisit]]:
        """Feed one frame's tracked feet; returns the visits that ended at this frame."""
        inside = points_in_polygon(feet_px, self.polygon) if len(track_ids) else np.zeros(0, dtype=bool)
        ended: list[tuple[int, ZoneVisit]] = []
        for tid, is_in in zip(track_ids, inside, strict=True):
            visit = self.observe(tid, t, bool(is_in))
            if visit is not None:
                ended.append((tid, visit))
        return ended

    def observe(self, track_id: int, t: float, is_in: bool) -> ZoneVisit | None:
        s = self._states.setdefault(track_id, _State())
        z = self.zone
        if not s.inside:
            if not is_in:
                s.candidate_since = None
                return None
            if s.candidate_since is None:
                s.candidate_since = t
            if t - s.candidate_since >= z.enter_after_s:
                s.inside, s.visit_start, s.last_inside, s.outside_since = True, s.candidate_since, t, None
            return None
        if is_in:
            s.last_inside, s.outside_since = t, None
            return None
        if s.outside_since is None:
            s.outside_since = t
        if t - s.outside_since >= z.exit_after_s:
            visit = ZoneVisit(z.id, s.visit_start, s.last_inside)
            self._states[track_id] = _State()
            return visit
        return None

    def is_inside(self, track_id: int) -> bool:
        s = self._states.get(track_id)
        return s is not None and s.inside

    def close(self, track_id: int) -> ZoneVisit | None:
        """The track ended: its open visit, if any, ends at its last observation inside."""
        s = self._states.pop(track_id, None)
        if s is None or not s.inside:
            return None
        return ZoneVisit(self.zone.id, s.visit_start, s.last_inside)
