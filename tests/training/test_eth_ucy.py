"""Real pedestrian trajectories (ETH/UCY) through the converter and the packaged model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from conftest import shared_path

from edge_agent.behavior.classifier import BehaviorClassifier
from retail_common.taxonomy import LABELS
from training.eth_ucy import convert, read_tracks


def test_converter_keeps_real_time_and_metres(tmp_path: Path) -> None:
    path = shared_path("data", "eth-ucy", "biwi_eth.txt")
    tracks = list(read_tracks(path))
    assert len(tracks) > 20
    for _, points in tracks:
        dt = np.diff(points[:, 0])
        assert np.allclose(dt[dt < 0.5], 0.4), "2.5 Hz: one point every 0.4 s"
        assert points[-1, 0] - points[0, 0] >= 8.0
    assert convert([path], tmp_path / "eth.jsonl") == len(tracks)


def test_people_crossing_a_public_space_mostly_pass_through() -> None:
    """Not a tuning target: a sanity check that the labels mean on real motion what they mean in the taxonomy.

    Pedestrians at a university entrance, a tram stop and a shop front mostly walk through, so
    'disinterested' should be the most common answer there.
    """
    files = [shared_path("data", "eth-ucy", f) for f in ("biwi_eth.txt", "biwi_hotel.txt", "crowds_zara01.txt")]
    tracks = [(p[:, 0], p[:, 1:]) for f in files for _, p in read_tracks(f)]
    probs = BehaviorClassifier().predict(tracks)
    counts = Counter(LABELS[i] for i in probs.argmax(axis=1))
    assert counts.most_common(1)[0][0] == "disinterested", counts
