"""Labelled shopper tracks for the six behaviours of BEHAVIORS.md, with the noise of real tracker output.

Each track is first drawn as a clean motion at 20 Hz from the class's kinematic
signature, checked against that signature (and redrawn if it misses, so every
label is honest), then observed like a tracker would: sampled at 2-30 Hz with
timing jitter, 0.05-0.15 m of position jitter, occlusion gaps of up to 1.5 s,
and placed at a random position and rotation on the floor. Everything comes
from one seed.

Choices the definitions leave open (a store analyst's reading):

- decisive: two straight legs of 3-12 m at 0.9-1.4 m/s around a single stop of
  2-15 s; the way out turns by 30-180 degrees (leaving the way they came is fine
  after the stop). 8-40 s.
- disinterested: 8-20 s at 1.2-1.8 m/s along a gently curved line, no stop.
- hesitant: 3-7 stops of 1-5 s between slow moves of 0.4-1.4 m at 0.2-0.6 m/s,
  a third of them backwards; net progress gives efficiency 0.3-0.7 within 6 m.
- interested: walks 2-7 m in at 0.8-1.3 m/s, browses 15-120 s within 1.5 m of one
  point (drifting under 0.3 m/s with pauses), walks 2-7 m out; browsing is at
  least 60 % of the time. Three in ten stand at the display the whole time
  (reading, comparing in hand): lingering needs no steps, and a single stop of
  more than 15 s is no longer ``decisive``'s "2 to 15 s".
- confused: 0.6-1.2 m/s between 5-9 waypoints spread over 6-14 m, going back
  towards earlier waypoints (at least 2 reversals), at most 2 stops of 1-2 s;
  efficiency under 0.4.
- frustrated: dashes of 0.6-2.5 m inside a 2.5-4.5 m box, alternating fast
  (1.2-2.0 m/s) and slow (0.3-0.6 m/s) with hard accelerations, turning sharply
  between dashes; 10-60 s.

Nuisances of real tracker output (:class:`Nuisances`, drawn per track with the
probabilities given there; the functions are :mod:`training.perturb`'s and apply to
any track). The first three change which part of the visit is seen, so the part
must still show its class's signature (a person watching only that part would give
the same label); the clean motion is redrawn otherwise, and a class that cannot
show its signature under that nuisance (``interested`` needs 15 s, so never within
12 s) is left whole. The others change how the motion is observed, never what the
person did, so the label stands without a check:

- partial visit: the legs before the first and after the last stop cut to 0-2 m
  each (walking in a metre and standing at a table, as on the Intel clip); without
  stops, each end cut by up to 30 % of the time (starting or ending mid-walk at
  the frame edge).
- short: only 8-12 s of the visit in view, near the 8 s minimum.
- identity switch: the visit split at 30-70 % of its time; one of the two parts
  (8 s or more) is the track.
- body sway: an ellipse of 2-6 cm (half that across) with periods of 2-5 s over the
  whole track: a standing person's box centre is never still, yet stays below the
  0.15 m/s of a stop once smoothed.
- speed: the time spent moving shrunk or stretched by a log-uniform factor of
  0.7-1.4 (slower and faster walkers than BEHAVIORS.md's typical ranges);
  standing keeps its duration.
- metre scale: all distances off by up to 30 % either way (person-height
  calibration on an oblique camera).
- dropouts: one detection gap of 2-4 s plus one per 30 s on average.
- sampling: 2-30 Hz (log-uniform) with timing jitter, as before; the rate's range
  is a nuisance parameter too.

The module runs over 400 lines because every class's generator, the check that
keeps its label honest and the nuisances that observe it belong to one reading
of BEHAVIORS.md, and are reviewed together when that reading changes.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.behavior.signatures import Signature, signature
from retail_common.taxonomy import LABELS
from training import perturb

DT = 0.05  # clean motion sampling, seconds
MAX_ATTEMPTS = 50
STILL_BROWSERS = 0.3  # share of interested shoppers who stand at the display instead of moving along it
PART_ATTEMPTS = 6  # clean tracks tried for a part (partial, short, split) that still shows its class
MIN_TRACK_S = 8.0


@dataclass(frozen=True)
class Nuisances:
    """Per track, the probability of each nuisance of real tracker output and the ranges it is drawn from."""

    partial: float = 0.3
    leg_m: tuple[float, float] = (0.0, 2.0)
    short: float = 0.1
    short_s: tuple[float, float] = (8.0, 12.0)
    split: float = 0.1
    sway: float = 0.5
    sway_m: tuple[float, float] = (0.02, 0.06)
    sway_period_s: tuple[float, float] = (2.0, 5.0)
    speed: float = 0.3
    speed_factor: tuple[float, float] = (0.7, 1.4)
    scale: float = 0.5
    scale_error: float = 0.3
    dropout: float = 0.2
    dropout_s: tuple[float, float] = (2.0, 4.0)
    hz: tuple[float, float] = (2.0, 30.0)

    def __post_init__(self) -> None:
        for name in ("partial", "short", "split", "sway", "speed", "scale", "dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability, got {getattr(self, name)}")
        if not 0.5 <= self.hz[0] <= self.hz[1] <= 60.0:
            raise ValueError(f"sampling rates must satisfy 0.5 <= low <= high <= 60 Hz, got {self.hz}")
        if not 0.0 <= self.scale_error < 1.0:
            raise ValueError(f"scale_error must lie in [0, 1), got {self.scale_error}")


#: real tracker output, as the shipped model is trained on
NUISANCES = Nuisances()
#: the simulator before nuisances: whole visits, typical speeds, exact metres
CLEAN = Nuisances(partial=0.0, short=0.0, split=0.0, sway=0.0, speed=0.0, scale=0.0, dropout=0.0)


class SimulationError(RuntimeError):
    """The simulator could not draw a track matching its class (a bug in its parameters)."""


@dataclass
class Motion:
    """A clean trajectory built piece by piece at ``DT`` seconds per sample."""

    rng: np.random.Generator
    xy: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.xy:
            self.xy = [np.zeros(2)]

    @property
    def here(self) -> np.ndarray:
        return self.xy[-1]

    def walk_to(self, target: np.ndarray, speed: float, end_speed: float | None = None, sway: float = 0.0) -> None:
        """Straight to ``target``, speed changing linearly to ``end_speed``, with optional lateral sway."""
        start = self.here.copy()
        delta = np.asarray(target, dtype=float) - start
        dist = float(np.hypot(*delta))
        if dist < 1e-6:
            return
        end_speed = speed if end_speed is None else end_speed
        mean_speed = (speed + end_speed) / 2
        n = max(1, round(dist / mean_speed / DT))
        u = np.linspace(0, 1, n + 1)[1:]
        # position along the leg for a linear speed ramp: s(u) proportional to speed*u + (end-speed)*u^2/2
        s = (speed * u + (end_speed - speed) * u**2 / 2) / mean_speed
        normal = np.array([-delta[1], delta[0]]) / dist
        lateral = sway * np.sin(np.pi * u * max(1, round(dist / 3))) if sway else np.zeros_like(u)
        self.xy.extend(start + np.outer(s, delta) + np.outer(lateral, normal))

    def stand(self, seconds: float, sway: float = 0.02) -> None:
        """Standing still: a slow random sway of a couple of centimetres, far below stop speed."""
        n = max(1, round(seconds / DT))
        centre = self.here.copy()
        offset = np.zeros(2)
        for _ in range(n):
            offset += 0.1 * (-offset) + self.rng.normal(0, sway * 0.1, 2)
            self.xy.append(centre + offset)

    def browse(self, seconds: float, centre: np.ndarray, radius: float) -> None:
        """Lingering at a display: short slow shifts within ``radius`` of ``centre``, with pauses."""
        end = len(self.xy) + round(seconds / DT)
        while len(self.xy) < end:
            angle = self.rng.uniform(0, 2 * np.pi)
            target = centre + self.rng.uniform(0, radius * 0.7) * np.array([np.cos(angle), np.sin(angle)])
            self.walk_to(target, self.rng.uniform(0.1, 0.25))
            self.stand(self.rng.uniform(0.5, 4.0))
        del self.xy[end:]

    def track(self) -> tuple[np.ndarray, np.ndarray]:
        xy = np.asarray(self.xy)
        return np.arange(len(xy)) * DT, xy


def _unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def _decisive(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.9, 1.4)
    m.walk_to(m.here + rng.uniform(3, 12) * _unit(heading), speed, sway=rng.uniform(0, 0.15))
    m.stand(rng.uniform(2.5, 15))
    out = heading + rng.choice([-1, 1]) * rng.uniform(np.deg2rad(30), np.pi)
    m.walk_to(m.here + rng.uniform(3, 12) * _unit(out), speed * rng.uniform(0.95, 1.1), sway=rng.uniform(0, 0.15))
    return m


def _disinterested(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(1.25, 1.75)
    length = speed * rng.uniform(8, 20)
    bend = heading + rng.uniform(-0.25, 0.25)
    m.walk_to(m.here + length / 2 * _unit(heading), speed, sway=rng.uniform(0, 0.1))
    m.walk_to(m.here + length / 2 * _unit(bend), speed, sway=rng.uniform(0, 0.1))
    return m


def _hesitant(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    heading = rng.uniform(0, 2 * np.pi)
    for i in range(int(rng.integers(3, 8))):
        backwards = i > 0 and rng.random() < 0.35
        direction = heading + np.pi + rng.uniform(-0.5, 0.5) if backwards else heading + rng.uniform(-0.7, 0.7)
        step = rng.uniform(0.4, 1.2) if backwards else rng.uniform(0.6, 1.4)
        m.walk_to(m.here + step * _unit(direction), rng.uniform(0.25, 0.55))
        m.stand(rng.uniform(1.3, 4.5))
    m.walk_to(m.here + rng.uniform(0.6, 1.4) * _unit(heading), rng.uniform(0.25, 0.55))
    return m


def _interested(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.8, 1.3)
    m.walk_to(m.here + rng.uniform(2, 7) * _unit(heading), speed)
    m.stand(rng.uniform(0.5, 2))
    if rng.random() < STILL_BROWSERS:
        m.stand(rng.uniform(15, 120))
    else:
        m.browse(rng.uniform(15, 120), m.here.copy(), rng.uniform(0.6, 1.3))
    out = heading + rng.uniform(-2.5, 2.5)
    m.walk_to(m.here + rng.uniform(2, 7) * _unit(out), speed)
    return m


def _confused(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    size = rng.uniform(6, 14)
    visited = [m.here.copy()]
    stops = int(rng.integers(0, 3))
    for i in range(int(rng.integers(5, 10))):
        if len(visited) > 1 and rng.random() < 0.45:
            target = visited[int(rng.integers(0, len(visited) - 1))] + rng.normal(0, 0.5, 2)  # back to an earlier place
        else:
            target = rng.uniform(0, size, 2)
        m.walk_to(target, rng.uniform(0.6, 1.2), sway=rng.uniform(0, 0.2))
        visited.append(m.here.copy())
        if i < stops:
            m.stand(rng.uniform(1.1, 2.0))
    return m


def _frustrated(rng: np.random.Generator) -> Motion:
    m = Motion(rng)
    box = rng.uniform(2.5, 4.5)
    centre = np.full(2, box / 2)
    m.xy = [centre.copy()]
    heading = rng.uniform(0, 2 * np.pi)
    total = rng.uniform(10, 60)
    fast = rng.random() < 0.5
    while len(m.xy) * DT < total:
        heading += rng.choice([-1, 1]) * rng.uniform(np.deg2rad(95), np.deg2rad(180))
        target = np.clip(m.here + rng.uniform(0.6, 2.5) * _unit(heading), 0, box)
        peak = rng.uniform(1.3, 2.0) if fast else rng.uniform(0.3, 0.6)
        m.walk_to(target, peak, end_speed=rng.uniform(0.2, 0.5) if fast else rng.uniform(0.8, 1.4))
        fast = not fast
    return m


GENERATORS: dict[str, Callable[[np.random.Generator], Motion]] = {
    "decisive": _decisive,
    "disinterested": _disinterested,
    "hesitant": _hesitant,
    "interested": _interested,
    "confused": _confused,
    "frustrated": _frustrated,
}


def _frustrated_matches(s: Signature) -> bool:
    sharp_every = s.duration_s / max(s.sharp_turns, 1)
    return s.extent_m < 5.0 and sharp_every <= 4.0 and s.max_abs_accel > 1.5 and s.speed_p90 - s.speed_p10 > 0.6


#: whether a clean track shows the signature BEHAVIORS.md gives its class
SIGNATURE_CHECKS: dict[str, Callable[[Signature], bool]] = {
    "decisive": lambda s: s.stop_count == 1 and 2.0 <= s.longest_stop_s <= 15.5 and 0.85 <= s.moving_speed_mps <= 1.45,
    "disinterested": lambda s: s.longest_stop_s == 0.0 and s.efficiency >= 0.9 and s.moving_speed_mps >= 1.2,
    "hesitant": lambda s: (
        s.stop_count >= 3 and 0.3 <= s.efficiency <= 0.7 and s.extent_m <= 6.0 and s.moving_speed_mps <= 0.6
    ),
    "interested": lambda s: s.near_fraction >= 0.6 and s.near_seconds >= 15.0,
    "confused": lambda s: s.extent_m >= 6.0 and s.efficiency < 0.4 and s.reversals >= 2 and s.stop_count <= 2,
    "frustrated": _frustrated_matches,
}


def matches(label: str, s: Signature) -> bool:
    check = SIGNATURE_CHECKS.get(label)
    if check is None:
        raise ValueError(f"unknown behaviour {label!r}; known: {', '.join(LABELS)}")
    return 8.0 <= s.duration_s <= 180.0 and check(s)


def clean_track(label: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    generate = GENERATORS.get(label)
    if generate is None:
        raise ValueError(f"unknown behaviour {label!r}; known: {', '.join(LABELS)}")
    for _ in range(MAX_ATTEMPTS):
        t, xy = generate(rng).track()
        if len(t) > 2 and matches(label, signature(t, xy)):
            return t, xy
    raise SimulationError(f"no {label} track matched its signature in {MAX_ATTEMPTS} attempts")


Source = Callable[[str, np.random.Generator], perturb.Track]


@dataclass(frozen=True)
class CleanPool:
    """Clean motions of every label drawn once from a seed, to be seen under many nuisance settings.

    Drawing and checking a clean motion costs far more than perturbing it, so the
    shift suite draws its pools once and every shift's tracks from them.
    """

    tracks: dict[str, list[perturb.Track]]

    @classmethod
    def draw(cls, per_class: int, seed: int, labels: tuple[str, ...] = LABELS) -> CleanPool:
        rng = np.random.default_rng([seed, 4])
        return cls({label: [clean_track(label, rng) for _ in range(per_class)] for label in labels})

    def __call__(self, label: str, rng: np.random.Generator) -> perturb.Track:
        mine = self.tracks[label]
        return mine[int(rng.integers(len(mine)))]


def _part(
    label: str, rng: np.random.Generator, source: Source, cut: Callable[[perturb.Track], list[perturb.Track]]
) -> perturb.Track:
    """A clean track's part chosen by ``cut`` that still shows ``label``'s signature, or a whole clean track.

    The part's walking pace is the whole visit's: a leg of a metre is mostly speeding
    up and braking, and a person does not change pace because the camera saw less.
    """
    for _ in range(PART_ATTEMPTS):
        whole = source(label, rng)
        pace = signature(*whole).moving_speed_mps
        parts = [(t, xy) for t, xy in cut(whole) if len(t) > 2 and t[-1] - t[0] >= MIN_TRACK_S]
        for k in rng.permutation(len(parts)):
            t, xy = parts[k]
            if matches(label, dataclasses.replace(signature(t - t[0], xy), moving_speed_mps=pace)):
                return t - t[0], xy
    return source(label, rng)


def seen_track(
    label: str, rng: np.random.Generator, nuisances: Nuisances, source: Source = clean_track
) -> perturb.Track:
    """A clean motion of ``label`` (from ``source``), as much of it as the camera sees, moved as the person moved."""
    n = nuisances
    if rng.random() < n.partial:
        t, xy = _part(label, rng, source, lambda tr: [perturb.crop_visit(*tr, rng, n.leg_m)])
    elif rng.random() < n.short:
        t, xy = _part(
            label, rng, source, lambda tr: [perturb.window(*tr, rng, rng.uniform(*n.short_s)) for _ in range(3)]
        )
    elif rng.random() < n.split:
        t, xy = _part(label, rng, source, lambda tr: perturb.split(*tr, rng))
    else:
        t, xy = source(label, rng)
    if rng.random() < n.speed:
        t, xy = perturb.retime(t, xy, float(np.exp(rng.uniform(*np.log(n.speed_factor)))))
    if rng.random() < n.sway:
        t, xy = perturb.sway(t, xy, rng, n.sway_m, n.sway_period_s)
    return t, xy


def observe(t: np.ndarray, xy: np.ndarray, rng: np.random.Generator, nuisances: Nuisances = NUISANCES) -> np.ndarray:
    """A tracker's view of a motion: (N, 3) points [t, x, y] with real-world noise."""
    n = nuisances
    if rng.random() < n.scale:
        t, xy = perturb.rescale(t, xy, rng.uniform(1 - n.scale_error, 1 + n.scale_error))
    hz = float(np.exp(rng.uniform(np.log(n.hz[0]), np.log(n.hz[1]))))
    period = 1.0 / hz
    times = np.arange(0.0, t[-1], period)
    times = times + rng.uniform(-0.25, 0.25, len(times)) * period
    times = np.clip(times, 0.0, t[-1])
    for _ in range(rng.poisson(t[-1] / 25.0)):  # occlusions
        start = rng.uniform(0, t[-1])
        times = times[(times < start) | (times > start + rng.uniform(0.3, 1.5))]
    times = np.unique(np.round(times, 3))
    pos = np.stack([np.interp(times, t, xy[:, 0]), np.interp(times, t, xy[:, 1])], axis=1)
    if rng.random() < n.dropout:
        times, pos = perturb.drop(times, pos, rng, n.dropout_s)
    pos += rng.normal(0, rng.uniform(0.05, 0.15), pos.shape)
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pos = pos @ rot.T + rng.uniform(-20, 20, 2)
    return np.column_stack([times + rng.uniform(0, 1000), pos])


@dataclass(frozen=True)
class LabelledTrack:
    track_id: str
    label: str
    points: np.ndarray  # (N, 3) t, x, y

    def to_json(self) -> str:
        pts = [[round(float(a), 3), round(float(b), 3), round(float(c), 3)] for a, b, c in self.points]
        return json.dumps({"track_id": self.track_id, "label": self.label, "points": pts}, separators=(",", ":"))


def simulate(
    per_class: int,
    seed: int,
    labels: tuple[str, ...] = LABELS,
    nuisances: Nuisances = NUISANCES,
    source: Source = clean_track,
) -> Iterator[LabelledTrack]:
    """``per_class`` tracks of each label, interleaved, reproducible from ``seed``, ``nuisances`` and ``source``
    (fresh clean motions by default, or a :class:`CleanPool`'s)."""
    rng = np.random.default_rng(seed)
    ids = np.random.default_rng([seed, 1])
    for _ in range(per_class):
        for label in labels:
            t, xy = seen_track(label, rng, nuisances, source)
            track_id = str(uuid.UUID(bytes=ids.bytes(16), version=4))
            yield LabelledTrack(track_id, label, observe(t, xy, rng, nuisances))


def write_jsonl(tracks: Iterator[LabelledTrack], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for track in tracks:
            f.write(track.to_json() + "\n")
            n += 1
    return n
