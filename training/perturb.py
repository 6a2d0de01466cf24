"""What real tracker output does to a visit, as perturbations applicable to any track ``(t, xy)``.

Each function takes a track (seconds, floor metres; a simulated clean motion or a
real tracker's output alike) and a random generator and returns the track as a
camera would have delivered it. They are the nuisances of the shift suite
(:mod:`training.shifts`) and of the simulator (:mod:`training.simulate`), which
documents the ranges it draws them from:

- :func:`crop_visit`: a visit seen only in part, the walking legs before the first
  and after the last stop cut to ``leg_m`` metres (0 to 2 m: the person enters and
  leaves the frame near where they stop), or, without stops, each end cut by up to
  ``edge_share`` of the time (the track starts or ends mid-walk at the frame edge);
- :func:`window`: only ``seconds`` of the visit in view (tracks near the 8 s minimum);
- :func:`split`: an identity switch cuts one visit into two tracks at a random time;
- :func:`sway`: body sway, an elliptic oscillation of a few centimetres (a standing
  person's box centre is never still);
- :func:`retime`: a slower or faster walker, the time spent moving stretched or shrunk
  by ``factor`` while standing still keeps its duration;
- :func:`rescale`: floor metres off by a constant factor (person-height calibration
  on an oblique camera, up to about 30 %);
- :func:`drop`: detection dropouts of a few seconds (samples missing, the track goes on).

Pure numpy: no torch, so the same perturbations can be applied to real tracks.
"""

from __future__ import annotations

import numpy as np

from edge_agent.behavior.features import fine_track
from retail_common.taxonomy import STOP_SPEED_MPS

Track = tuple[np.ndarray, np.ndarray]


def _keep(t: np.ndarray, xy: np.ndarray, start: float, end: float) -> Track:
    inside = (t >= start) & (t <= end)
    return t[inside], xy[inside]


def _stopped(t: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed speed at each raw sample and the distance walked up to it (smoothing hides tracker jitter)."""
    fine = fine_track(t, xy)
    speed = np.interp(t - t[0], fine.t, fine.speed)
    walked = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(fine.xy, axis=0).T))])
    return speed < STOP_SPEED_MPS, speed, np.interp(t - t[0], fine.t, walked)


def crop_visit(
    t: np.ndarray, xy: np.ndarray, rng: np.random.Generator, leg_m: tuple[float, float], edge_share: float = 0.3
) -> Track:
    """The visit as a camera that sees only the part around the stops: legs of ``leg_m`` metres at each end."""
    still, _, walked = _stopped(t, xy)
    if still.any():
        first, last = int(np.argmax(still)), len(t) - 1 - int(np.argmax(still[::-1]))
        start_at = walked[first] - rng.uniform(*leg_m)
        end_at = walked[last] + rng.uniform(*leg_m)
        inside = (walked >= start_at) & (walked <= end_at)
        return t[inside], xy[inside]
    duration = float(t[-1] - t[0])
    return _keep(t, xy, t[0] + rng.uniform(0, edge_share) * duration, t[-1] - rng.uniform(0, edge_share) * duration)


def window(t: np.ndarray, xy: np.ndarray, rng: np.random.Generator, seconds: float) -> Track:
    """``seconds`` of the track, starting at a random time (the whole track where it is shorter)."""
    slack = float(t[-1] - t[0]) - seconds
    start = float(t[0]) + (rng.uniform(0, slack) if slack > 0 else 0.0)
    return _keep(t, xy, start, start + seconds)


def split(t: np.ndarray, xy: np.ndarray, rng: np.random.Generator, at: tuple[float, float] = (0.3, 0.7)) -> list[Track]:
    """An identity switch at a random share ``at`` of the visit: two tracks, the tracker's two ids."""
    cut = float(t[0]) + rng.uniform(*at) * float(t[-1] - t[0])
    return [(t[t < cut], xy[t < cut]), (t[t >= cut], xy[t >= cut])]


def sway(
    t: np.ndarray,
    xy: np.ndarray,
    rng: np.random.Generator,
    amplitude_m: tuple[float, float],
    period_s: tuple[float, float],
) -> Track:
    """Body sway: an ellipse of ``amplitude_m`` along a random axis and half that across, each with its own period."""
    axis = rng.uniform(0, np.pi)
    along = np.array([np.cos(axis), np.sin(axis)])
    across = np.array([-along[1], along[0]])
    a = rng.uniform(*amplitude_m)
    p1, p2 = rng.uniform(*period_s), rng.uniform(*period_s)
    phase = rng.uniform(0, 2 * np.pi, 2)
    wave1 = a * np.sin(2 * np.pi * t / p1 + phase[0])
    wave2 = a / 2 * np.sin(2 * np.pi * t / p2 + phase[1])
    return t, xy + np.outer(wave1, along) + np.outer(wave2, across)


def retime(t: np.ndarray, xy: np.ndarray, factor: float) -> Track:
    """The same path walked ``factor`` times as fast; time spent standing still is unchanged."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    still, _, _ = _stopped(t, xy)
    dt = np.diff(t)
    moving = ~(still[1:] & still[:-1])
    new_dt = np.where(moving, dt / factor, dt)
    return t[0] + np.concatenate([[0.0], np.cumsum(new_dt)]), xy


def rescale(t: np.ndarray, xy: np.ndarray, factor: float) -> Track:
    """Floor distances off by ``factor`` (a wrong metre scale), around the first point."""
    if factor <= 0:
        raise ValueError(f"scale factor must be positive, got {factor}")
    return t, xy[0] + (xy - xy[0]) * factor


def drop(
    t: np.ndarray, xy: np.ndarray, rng: np.random.Generator, seconds: tuple[float, float], every_s: float = 30.0
) -> Track:
    """Detection dropouts: one gap of ``seconds`` plus one more per ``every_s`` on average; ends kept."""
    keep = np.ones(len(t), dtype=bool)
    duration = float(t[-1] - t[0])
    for _ in range(1 + int(rng.poisson(duration / every_s))):
        length = rng.uniform(*seconds)
        start = float(t[0]) + rng.uniform(0, max(duration - length, 0.0))
        keep &= (t < start) | (t > start + length)
    keep[0] = keep[-1] = True
    return t[keep], xy[keep]
