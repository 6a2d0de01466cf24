"""Cameras that go dead: on about one store-day in twelve (:data:`OUTAGE_RATE`) one camera other than the
entrance is dead for two to four whole hours of the opening time. It reports no uptime for them and sees
nobody, so the dashboard shows a gap there rather than an empty aisle; every other camera-hour of the local
day reports full uptime."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np

from fleet_sim.stores import SimStore
from retail_common.summary import CameraUptime

OUTAGE_RATE = 1 / 12  # share of store-days on which one camera is dead for a few hours
UPTIME_BUCKET_S = 3600


@dataclass(frozen=True)
class Outage:
    """A camera dead from ``start`` to ``end`` (Unix seconds, whole hours)."""

    camera_id: str
    start: float
    end: float


def outage_of(store: SimStore, day: date, seed: int) -> Outage | None:
    """The day's camera outage, if any: its own random stream, so the day's shoppers are the same either way."""
    rng = np.random.default_rng([seed, zlib.crc32(store.store_id.encode()), day.toordinal(), 0x0D0])
    if rng.random() >= OUTAGE_RATE or len(store.cameras) < 2:
        return None
    opens, closes = store.opening(day)
    camera = store.cameras[int(rng.integers(1, len(store.cameras)))]
    hours = int(rng.integers(2, 5))
    first = np.ceil(opens / UPTIME_BUCKET_S) * UPTIME_BUCKET_S
    last = max(first, np.floor(closes / UPTIME_BUCKET_S) * UPTIME_BUCKET_S - hours * UPTIME_BUCKET_S)
    start = first + UPTIME_BUCKET_S * int(rng.integers(0, int((last - first) // UPTIME_BUCKET_S) + 1))
    return Outage(camera.camera_id, float(start), float(start + hours * UPTIME_BUCKET_S))


def camera_uptimes(store: SimStore, day: date, outage: Outage | None) -> tuple[CameraUptime, ...]:
    """Every camera's uptime in every hour of the local day: all of it, but none in the outage."""
    opens, _ = store.opening(day)
    midnight = opens - store.hours[day.weekday()][0] * 3600
    out = []
    for cam in store.cameras:
        for h in range(24):
            start = midnight + h * UPTIME_BUCKET_S
            dead = outage is not None and outage.camera_id == cam.camera_id and outage.start <= start < outage.end
            out.append(CameraUptime(cam.camera_id, float(start), UPTIME_BUCKET_S, 0.0 if dead else 3600.0))
    return tuple(out)
