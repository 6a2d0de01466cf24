"""The shipped labeller: the model's label where it is sure, the rule baseline's evidence where it is not.

Models here give every track the same probabilities, so what the rules add is plain to see: a fast straight
walk meets every criterion of ``disinterested`` and none of ``hesitant``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import model_files
import numpy as np
import pytest

from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorContractError
from edge_agent.behavior.jsonl import CHUNK_LINES
from edge_agent.behavior.labeller import LabellerConfig
from retail_common.taxonomy import LABELS

LABELLER = LabellerConfig(rules_below=0.9, rule_weight=16.0, temperature=2.0).to_json()


def walk_through() -> tuple[np.ndarray, np.ndarray]:
    """12 s at 1.5 m/s in a straight line, sampled at 10 Hz: ``disinterested`` by every rule."""
    t = np.arange(0.0, 12.0, 0.1)
    return t, np.column_stack([1.5 * t, np.zeros_like(t)])


def classify_cli(tmp_path: Path, model: Path, copies: int) -> list[dict[str, object]]:
    t, xy = walk_through()
    line = json.dumps({"track_id": "walk", "points": np.column_stack([t, xy]).round(3).tolist()})
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text((line + "\n") * copies)
    run = subprocess.run(
        [sys.executable, "-m", "edge_agent", "classify", str(src), "-o", str(out), "--model", str(model)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return [json.loads(row) for row in out.read_text().splitlines()]


def test_where_the_model_is_unsure_the_rules_decide(tmp_path: Path) -> None:
    model = model_files.constant_behavior(tmp_path / "m.onnx", {"hesitant": 0.5}, LABELLER)
    probs = BehaviorClassifier(model).label([walk_through()])
    assert LABELS[int(probs[0].argmax())] == "disinterested"
    assert probs[0].sum() == pytest.approx(1.0)
    # with the temperature, the rules' full signature against the model's 0.5 gives a probability, not a 1.00
    assert 0.9 < probs[0].max() < 1.0


def test_a_confident_model_keeps_its_label_and_probabilities(tmp_path: Path) -> None:
    model = model_files.constant_behavior(tmp_path / "m.onnx", {"hesitant": 0.95}, LABELLER)
    probs = BehaviorClassifier(model).label([walk_through()])
    assert LABELS[int(probs[0].argmax())] == "hesitant"
    assert probs[0][LABELS.index("hesitant")] == pytest.approx(0.95, abs=1e-5)


def test_a_model_without_a_combination_labels_alone(tmp_path: Path) -> None:
    model = model_files.constant_behavior(tmp_path / "m.onnx", {"hesitant": 0.5})
    classifier = BehaviorClassifier(model)
    assert classifier.labeller is None
    assert LABELS[int(classifier.label([walk_through()])[0].argmax())] == "hesitant"


@pytest.mark.parametrize(
    ("labeller", "words"),
    [
        ("not json", "labeller metadata 'not json' is not valid"),
        ('{"rules_below": 0.9}', "labeller metadata"),
        ('{"rules_below": 2, "rule_weight": 16, "temperature": 1}', "out of range"),
        ('{"rules_below": 0.9, "rule_weight": 16, "temperature": 0}', "out of range"),
    ],
)
def test_a_model_with_a_broken_combination_is_refused_naming_it(tmp_path: Path, labeller: str, words: str) -> None:
    model = model_files.constant_behavior(tmp_path / "m.onnx", {"hesitant": 0.5}, labeller)
    with pytest.raises(BehaviorContractError, match=words):
        BehaviorClassifier(model)


def test_classify_gives_the_labellers_answer_inline_and_in_its_worker_processes(tmp_path: Path) -> None:
    """One chunk runs inline; more run in worker processes, each with its own copy of the model."""
    model = model_files.constant_behavior(tmp_path / "m.onnx", {"hesitant": 0.5}, LABELLER)
    for copies in (1, 2 * CHUNK_LINES + 1):
        rows = classify_cli(tmp_path, model, copies)
        assert len(rows) == copies
        assert {r["behavior"] for r in rows} == {"disinterested"}
        assert {r["model_version"] for r in rows} == {"constant/1"}
        assert all(r["uncertain"] is False for r in rows)
