"""The simulated chain: its stores, their cameras and zones, opening hours and traffic curves.

Reproducible from one seed; :mod:`fleet_sim.generate` fills a store's day with shoppers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np

BUCKET_S = 900  # tiles and line counts per quarter hour
GRID_ROWS, GRID_COLS = 12, 16  # heatmap cells over a camera's view
DOOR = "door"
DETECTOR_MODEL = "yolov8n/1"
BEHAVIOR_MODEL = "behavior-classifier/2"
VISITORS_PER_DAY = 650  # shoppers of a size-1.0 store on an average day
#: Monday ... Sunday: Friday and above all Saturday are the busy days
WEEKDAY_FACTOR = (0.80, 0.85, 0.90, 0.95, 1.15, 1.45, 0.75)
#: local clock hours of the lunch and the evening peak of arrivals
PEAKS = ((11.5, 14.0), (16.5, 19.5))
#: the chain's average share of each behaviour, in ``LABELS`` order; each store varies around it
BEHAVIOR_MIX = (0.24, 0.26, 0.12, 0.22, 0.08, 0.08)
LAST_ENTRY_S = 300.0  # doors close to newcomers this long before closing
_ZONE_POOL = (
    "produce",
    "bakery",
    "dairy",
    "aisle-a",
    "aisle-b",
    "household",
    "electronics",
    "apparel",
    "fitting-rooms",
    "checkout",
    "self-checkout",
    "promo-end",
)
_PLACES = ("Riverside", "Old Town", "Station", "Harbour", "Market Square", "North Mall", "Airport", "University")


def traffic_intensity(local_hours: np.ndarray) -> np.ndarray:
    """Relative arrival rate at local clock hours: a floor plus the lunch and evening peaks of ``PEAKS``."""
    h = np.asarray(local_hours, dtype=np.float64)
    lunch = 1.1 * np.exp(-0.5 * ((h - 12.75) / 0.7) ** 2)
    evening = 1.4 * np.exp(-0.5 * ((h - 18.0) / 0.9) ** 2)
    return np.asarray(0.45 + lunch + evening)


def in_peak(local_hour: float) -> bool:
    """Whether the clock hour starting at ``local_hour`` overlaps the lunch or the evening peak."""
    return any(local_hour < end and local_hour + 1 > start for start, end in PEAKS)


@dataclass(frozen=True)
class Zone:
    """A rectangle of a camera's floor area, in metres."""

    zone_id: str
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        return np.asarray((x >= self.x0) & (x < self.x1) & (y >= self.y0) & (y < self.y1))


@dataclass(frozen=True)
class SimCamera:
    camera_id: str
    width_m: float  # floor area seen, x from 0 to width_m ...
    depth_m: float  # ... and y from 0 to depth_m; heatmap cells split this area
    zones: tuple[Zone, ...]
    line_ids: tuple[str, ...]
    reach: float  # share of the store's shoppers this camera sees (1 at the entrance)

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(z.zone_id for z in self.zones)


@dataclass(frozen=True)
class SimStore:
    store_id: str
    name: str
    size: float  # traffic factor: 1.0 is an average store
    utc_offset_h: int  # local time = UTC + this
    hours: tuple[tuple[float, float], ...]  # (open, close) local clock hours, Monday ... Sunday
    cameras: tuple[SimCamera, ...]  # the first is the entrance camera, with the door line
    behavior_mix: tuple[float, ...]  # share of each behaviour, ``LABELS`` order

    @property
    def detector_precision(self) -> str:
        """Half the stores run a detector quantized by ``retail-edge optimize`` (their heartbeats say so)."""
        return "int8" if self.store_id[-1] in "13579" else "fp32"

    @property
    def timezone(self) -> str:
        """The IANA zone of its clock: fixed offsets, no daylight saving (``Etc/GMT-1`` is UTC+1)."""
        return f"Etc/GMT-{self.utc_offset_h}" if self.utc_offset_h else "UTC"

    @property
    def entrance(self) -> SimCamera:
        return self.cameras[0]

    def opening(self, day: date) -> tuple[float, float]:
        """Unix times of opening and closing on local ``day``."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() - self.utc_offset_h * 3600
        open_h, close_h = self.hours[day.weekday()]
        return midnight + open_h * 3600, midnight + close_h * 3600

    def local_hour(self, ts: np.ndarray) -> np.ndarray:
        """Local clock hour (fractional) of Unix times."""
        return np.asarray(((np.asarray(ts) + self.utc_offset_h * 3600) % 86_400) / 3600)


def _zones(ids: Sequence[str], width: float, depth: float, rng: np.random.Generator) -> tuple[Zone, ...]:
    """Side-by-side rectangles with aisles between them, so that part of the floor is in no zone."""
    step = width / len(ids)
    out = []
    for i, zone_id in enumerate(ids):
        gap = rng.uniform(0.4, 1.2)
        y0, y1 = depth * rng.uniform(0.05, 0.3), depth * rng.uniform(0.7, 0.95)
        out.append(Zone(zone_id, round(i * step + gap, 2), round(y0, 2), round((i + 1) * step - gap, 2), round(y1, 2)))
    return tuple(out)


def make_stores(count: int, seed: int) -> list[SimStore]:
    """Stores ``sim-001`` ... with 2-4 cameras of 2-3 zones each, their hours, size and behaviour mix."""
    if not 1 <= count <= 999:
        raise ValueError(f"store count {count} is not within 1-999")
    rng = np.random.default_rng([seed, 0x5170])
    out = []
    for i in range(count):
        store_id = f"sim-{i + 1:03d}"
        size = float(np.clip(rng.lognormal(0.0, 0.35), 0.5, 2.2))
        weekday = (9.0 + float(rng.choice([-1.0, -0.5, 0.0, 0.0, 0.0])), 21.0 + float(rng.choice([-1.0, 0, 0, 1.0])))
        sunday = (10.0 + float(rng.choice([0.0, 0.0, 1.0])), 18.0)
        pool = list(rng.permutation(_ZONE_POOL))
        cameras = []
        for c in range(int(rng.integers(2, 5))):
            width, depth = float(rng.uniform(12, 20)), float(rng.uniform(8, 12))
            if c == 0:
                zone_ids: list[str] = ["entrance", "promo", "trolleys"][: int(rng.integers(2, 4))]
                lines: tuple[str, ...] = (DOOR,)
                reach = 1.0
            else:
                zone_ids = [str(pool.pop()) for _ in range(int(rng.integers(2, 4)))]
                lines = ()
                reach = float(rng.uniform(0.3, 0.7))
            zones = _zones(zone_ids, width, depth, rng)
            cameras.append(SimCamera(f"cam-{c + 1}", round(width, 2), round(depth, 2), zones, lines, round(reach, 3)))
        mix = rng.dirichlet(np.asarray(BEHAVIOR_MIX) * 60.0)
        out.append(
            SimStore(
                store_id=store_id,
                name=f"Sim {_PLACES[i % len(_PLACES)]} {i + 1:03d}",
                size=round(size, 3),
                utc_offset_h=int(rng.choice([0, 1, 1, 2])),
                hours=(weekday,) * 6 + (sunday,),
                cameras=tuple(cameras),
                behavior_mix=tuple(float(p) for p in mix),
            )
        )
    return out
