"""The simulator produces what it claims: BEHAVIORS.md's signatures, with real-world noise, from a seed."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from edge_agent.behavior.signatures import Signature, signature
from retail_common.taxonomy import LABELS
from training.simulate import CLEAN, LabelledTrack, Nuisances, simulate, write_jsonl

PER_CLASS = 25


@pytest.fixture(scope="module")
def tracks() -> list[LabelledTrack]:
    """Whole visits at typical speeds in exact metres, with a tracker's jitter, sampling and occlusions."""
    return [tr for seed in (11, 12, 13) for tr in simulate(PER_CLASS, seed, nuisances=CLEAN)]


@pytest.fixture(scope="module")
def observed(tracks: list[LabelledTrack]) -> dict[str, list[Signature]]:
    """Signatures of the noisy tracks as a tracker would report them."""
    out: dict[str, list[Signature]] = defaultdict(list)
    for tr in tracks:
        out[tr.label].append(signature(tr.points[:, 0], tr.points[:, 1:]))
    return out


def share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_every_class_in_equal_numbers(tracks: list[LabelledTrack]) -> None:
    labels = [tr.label for tr in tracks]
    assert {label: labels.count(label) for label in LABELS} == dict.fromkeys(LABELS, 3 * PER_CLASS)


def test_noise_and_sampling_like_real_tracker_output(tracks: list[LabelledTrack]) -> None:
    rates, durations, gaps = [], [], []
    for tr in tracks:
        t = tr.points[:, 0]
        dt = np.diff(t)
        assert (dt > 0).all(), "time must increase"
        rates.append(1 / np.median(dt))
        durations.append(t[-1] - t[0])
        gaps.append(dt.max())
    assert min(rates) >= 1.5
    assert max(rates) <= 40
    assert np.percentile(rates, 90) > 10, "some tracks should be sampled fast"
    assert np.percentile(rates, 10) < 5, "and some slowly"
    assert min(durations) >= 7.0
    assert max(durations) <= 181.0
    assert max(gaps) > 1.0, "some tracks should have occlusion gaps"


def test_same_seed_same_tracks(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(simulate(3, seed=42), a)
    write_jsonl(simulate(3, seed=42), b)
    assert a.read_bytes() == b.read_bytes()
    write_jsonl(simulate(3, seed=43), b)
    assert a.read_bytes() != b.read_bytes()


# Signatures measured on the NOISY output, over many seeds. Jitter of up to 15 cm and sampling at 2 Hz
# blur the clean signature a little, so each check must hold for the large majority, not every track.
@pytest.mark.parametrize(
    ("label", "check", "at_least"),
    [
        ("decisive", lambda s: 0.8 <= s.moving_speed_mps <= 1.5, 0.9),
        ("decisive", lambda s: s.longest_stop_s >= 2.0 and s.stop_count <= 2, 0.85),
        ("disinterested", lambda s: s.moving_speed_mps >= 1.15 and s.efficiency >= 0.88, 0.9),
        ("disinterested", lambda s: s.longest_stop_s <= 1.0, 0.95),
        ("disinterested", lambda s: s.duration_s <= 21.0, 1.0),
        ("hesitant", lambda s: s.stop_count >= 3, 0.8),
        ("hesitant", lambda s: 0.25 <= s.efficiency <= 0.75 and s.extent_m <= 6.5, 0.85),
        ("interested", lambda s: s.near_fraction >= 0.55 and s.near_seconds >= 14.0, 0.9),
        ("confused", lambda s: s.extent_m >= 6.0 and s.efficiency < 0.45, 0.9),
        ("confused", lambda s: s.reversals >= 2, 0.8),
        ("frustrated", lambda s: s.extent_m < 5.5, 0.95),
        ("frustrated", lambda s: s.duration_s / max(s.sharp_turns, 1) <= 4.5 and s.max_abs_accel > 1.5, 0.85),
    ],
)
def test_signature_holds_over_many_seeds(
    observed: dict[str, list[Signature]], label: str, check: object, at_least: float
) -> None:
    assert callable(check)
    got = share([bool(check(s)) for s in observed[label]])
    assert got >= at_least, f"{label}: {got:.0%} of noisy tracks show the signature"


def test_classes_differ_where_the_taxonomy_says(observed: dict[str, list[Signature]]) -> None:
    """Across classes (not just within): speeds and extents order as BEHAVIORS.md describes."""
    median = lambda label, f: float(np.median([f(s) for s in observed[label]]))  # noqa: E731
    assert median("disinterested", lambda s: s.moving_speed_mps) > median("decisive", lambda s: s.moving_speed_mps)
    assert median("decisive", lambda s: s.moving_speed_mps) > median("hesitant", lambda s: s.moving_speed_mps)
    assert median("confused", lambda s: s.extent_m) > median("frustrated", lambda s: s.extent_m)
    assert median("frustrated", lambda s: s.sharp_turns / s.duration_s) > median(
        "confused", lambda s: s.sharp_turns / s.duration_s
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"partial": 1.5}, "partial is a probability"),
        ({"dropout": -0.1}, "dropout is a probability"),
        ({"hz": (10.0, 2.0)}, "sampling rates"),
        ({"scale_error": 1.0}, "scale_error"),
    ],
)
def test_nuisance_settings_out_of_range_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Nuisances(**change)  # type: ignore[arg-type]


def test_partial_visits_keep_their_class_and_show_little_walking() -> None:
    """Every track a visit seen in part: still labelled honestly (its signature checked), legs of 2 m or less."""
    only_partial = Nuisances(partial=1.0, short=0.0, split=0.0, sway=0.0, speed=0.0, scale=0.0, dropout=0.0)
    tracks = list(simulate(4, seed=5, labels=("decisive", "interested"), nuisances=only_partial))
    for tr in tracks:
        s = signature(tr.points[:, 0], tr.points[:, 1:])
        assert s.duration_s >= 7.5
        if tr.label == "decisive":
            assert s.path_length_m < 6.0, "two legs of at most 2 m around the stop (plus jitter)"
            assert s.longest_stop_s >= 2.0
        else:
            assert s.near_seconds >= 14.0


def test_sampling_range_is_a_setting() -> None:
    slow = Nuisances(hz=(2.0, 3.0))
    for tr in simulate(2, seed=8, nuisances=slow):
        rate = 1 / float(np.median(np.diff(tr.points[:, 0])))
        assert 1.5 <= rate <= 4.0
