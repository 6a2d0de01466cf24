"""Labelled tracks in, padded feature batches out: simulated and real tracks mixed the same way.

Real labelled tracks use the BEHAVIORS.md input format plus a ``label`` field:
``{"track_id": "...", "label": "interested", "points": [[t, x, y], ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.behavior.features import TrackError, pad, sequences, validate_points
from retail_common.taxonomy import LABELS
from training.simulate import LabelledTrack


class DatasetError(ValueError):
    """A labelled file that cannot be used; names the file and line."""


def read_labelled_jsonl(path: Path) -> list[LabelledTrack]:
    tracks = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: not JSON ({e.msg})") from e
            if not isinstance(obj, dict):
                raise DatasetError(f"{where}: expected a JSON object")
            label = obj.get("label")
            if label not in LABELS:
                raise DatasetError(f"{where}: label {label!r} is not one of {', '.join(LABELS)}")
            try:
                t, xy = validate_points(obj.get("points"))
            except TrackError as e:
                raise DatasetError(f"{where}: {e}") from e
            tracks.append(
                LabelledTrack(str(obj.get("track_id", f"{path.name}:{number}")), label, np.column_stack([t, xy]))
            )
    if not tracks:
        raise DatasetError(f"{path}: no labelled tracks")
    return tracks


@dataclass(frozen=True)
class Encoded:
    """Feature sequences and integer labels of a set of tracks."""

    sequences: list[np.ndarray]
    labels: np.ndarray

    @classmethod
    def from_tracks(cls, tracks: Sequence[LabelledTrack]) -> Encoded:
        seqs = sequences([(tr.points[:, 0], tr.points[:, 1:]) for tr in tracks])
        return cls(seqs, np.array([LABELS.index(tr.label) for tr in tracks], dtype=np.int64))

    def subset(self, idx: np.ndarray) -> Encoded:
        return Encoded([self.sequences[i] for i in idx], self.labels[idx])

    def __len__(self) -> int:
        return len(self.sequences)


def batches(
    data: Encoded, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches of similar lengths (little padding); shuffled between buckets when ``rng`` is given."""
    order = np.argsort([len(s) for s in data.sequences], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    for idx in chunks:
        x, mask = pad([data.sequences[i] for i in idx])
        yield x, mask, data.labels[idx]
