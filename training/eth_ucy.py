"""ETH/UCY pedestrian files (``frame ped x y``, metres, 2.5 Hz of 25 fps video) to BEHAVIORS.md JSONL.

Real trajectories of people crossing public spaces, without behaviour labels:
used to see what the model says about real motion, not to train or tune it.
Tracks shorter than ``min_seconds`` (BEHAVIORS.md's tracks start at 8 s) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

VIDEO_FPS = 25.0


def read_tracks(path: Path, min_seconds: float = 8.0) -> Iterator[tuple[str, np.ndarray]]:
    rows = np.loadtxt(path, ndmin=2)
    for ped in np.unique(rows[:, 1]):
        mine = rows[rows[:, 1] == ped]
        mine = mine[np.argsort(mine[:, 0])]
        t = mine[:, 0] / VIDEO_FPS
        if t[-1] - t[0] >= min_seconds:
            yield f"{path.stem}/{int(ped)}", np.column_stack([t, mine[:, 2], mine[:, 3]])


def convert(paths: list[Path], output: Path, min_seconds: float = 8.0) -> int:
    n = 0
    with output.open("w", encoding="utf-8") as f:
        for path in paths:
            for track_id, points in read_tracks(path, min_seconds):
                f.write(json.dumps({"track_id": track_id, "points": np.round(points, 3).tolist()}) + "\n")
                n += 1
    return n
