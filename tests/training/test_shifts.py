"""The shift suite end to end at a tiny size: trains per shift, scores model, rules and shipped side by side."""

from __future__ import annotations

import dataclasses

import pytest

from training.shifts import SHIFTS, SuiteConfig, run_suite, suite_table

TINY = SuiteConfig(train_per_class=8, test_per_class=3, pool_per_class=5, epochs=1, hidden=4, dense=4)


def test_each_shift_trains_without_its_nuisance_and_tests_with_it() -> None:
    for name, (train_on, test_on) in SHIFTS.items():
        if name.startswith("none"):
            assert train_on == test_on
        else:
            assert train_on != test_on, name


def test_a_tiny_suite_reports_every_labeller_on_the_same_tracks() -> None:
    shifts = ("partial visits", "metre scale +-30%")
    results = run_suite(dataclasses.replace(TINY, shifts=shifts))
    assert [r.name for r in results] == list(shifts)
    for r in results:
        for rep in (r.model, r.rules, r.combined):
            assert rep.confusion.sum() == 6 * TINY.test_per_class
        assert 0.0 <= r.ece_after <= 1.0
    table = suite_table(results)
    assert "partial visits" in table
    assert "mean over shifts" in table


def test_an_unknown_shift_is_named() -> None:
    with pytest.raises(ValueError, match="unknown shift"):
        run_suite(dataclasses.replace(TINY, shifts=("moonwalk",)))
