"""``retail-edge classify``: BEHAVIORS.md's format on good, bad and mixed files, with the packaged model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.behavior import jsonl
from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorModelError, default_model_path
from edge_agent.behavior.jsonl import CHUNK_LINES
from retail_common.taxonomy import CONFIDENT_AT, LABELS
from training.simulate import simulate

GOOD = '{"track_id": "t1", "points": [[0.0, 1.2, 3.4], [0.1, 1.31, 3.42], [0.2, 1.4, 3.5], [0.3, 1.5, 3.6]]}'


def classify(
    tmp_path: Path, lines: list[str], *extra: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "edge_agent", "classify", str(src), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    results = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return run, results


def test_packaged_model_is_found_through_package_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing relative to the working directory
    classifier = BehaviorClassifier()
    assert default_model_path().stat().st_size < 1_000_000
    assert classifier.model_version.startswith("behavior-classifier/")


def test_good_file_gets_one_answer_per_line_in_order(tmp_path: Path) -> None:
    tracks = list(simulate(2, seed=2024))
    lines = [json.dumps({"track_id": tr.track_id, "points": tr.points.tolist()}) for tr in tracks]
    run, results = classify(tmp_path, lines)
    assert run.returncode == 0, run.stderr
    assert [r["track_id"] for r in results] == [tr.track_id for tr in tracks]
    for r in results:
        assert set(r) == {"track_id", "behavior", "probabilities", "uncertain", "model_version"}
        assert list(r["probabilities"]) == list(LABELS)  # type: ignore[call-overload]
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)  # type: ignore[union-attr]
        assert r["behavior"] == max(r["probabilities"], key=r["probabilities"].get)  # type: ignore[arg-type,union-attr]
        assert r["uncertain"] == (max(r["probabilities"].values()) < CONFIDENT_AT)  # type: ignore[union-attr]
    right = sum(r["behavior"] == tr.label for r, tr in zip(results, tracks, strict=True))
    assert right >= 10, f"the packaged model should recognise simulated tracks ({right}/12)"


def test_mixed_file_reports_each_bad_line_in_place(tmp_path: Path) -> None:
    lines = [
        GOOD,
        "this is not json",
        '{"track_id": "short", "points": [[0, 1, 1], [1, 2, 2]]}',
        '{"track_id": "back", "points": [[0, 1, 1], [2, 2, 2], [1, 3, 3]]}',
        '{"track_id": "nan", "points": [[0, 1, 1], [1, NaN, 2], [2, 3, 3]]}',
        '{"track_id": 7, "points": [[0, 1, 1], [1, 2, 2], [2, 3, 3]]}',
        '{"track_id": "nopoints"}',
        '["a", "list"]',
    ]
    run, results = classify(tmp_path, lines)
    assert run.returncode == 0, run.stderr
    assert len(results) == len(lines)
    assert results[0]["behavior"] in LABELS
    assert "not JSON" in str(results[1]["error"])
    assert results[2] == {"track_id": "short", "error": "at least 3 points are needed, got 2"}
    assert "time must increase" in str(results[3]["error"])
    assert results[4]["track_id"] == "nan"
    assert "error" in results[4]
    assert results[5]["track_id"] == 7
    assert results[5]["behavior"] in LABELS
    assert results[6] == {"track_id": "nopoints", "error": "missing 'points'"}
    assert "JSON object" in str(results[7]["error"])
    assert "2 classified, 6 error line(s) of 8" in run.stderr


def test_nothing_readable_exits_non_zero(tmp_path: Path) -> None:
    run, _ = classify(tmp_path, ["garbage", "more garbage"])
    assert run.returncode == 1
    assert "nothing could be classified" in run.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "edge_agent", "classify", str(tmp_path / "absent.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr


def test_a_model_with_other_features_is_refused(tmp_path: Path) -> None:
    import onnx

    proto = onnx.load(str(default_model_path()))
    for prop in proto.metadata_props:
        if prop.key == "feature_config":
            prop.value = prop.value.replace("mean_speed", "average_speed")
    bad = tmp_path / "other.onnx"
    onnx.save(proto, str(bad))
    run, _ = classify(tmp_path, [GOOD], "--model", str(bad))
    assert run.returncode == 1
    assert "trained with features" in run.stderr


def test_a_large_file_read_by_worker_processes_gives_the_inline_answers_in_order(tmp_path: Path) -> None:
    """Several chunks go through the worker processes; the results equal the single-process ones, line for line."""
    tracks = list(simulate(1, seed=77))
    lines = []
    for i in range(3 * CHUNK_LINES + 10):
        if i % 97 == 5:
            lines.append(f'{{"track_id": "bad{i}", "points": [[0, 1, 1]]}}')
            continue
        tr = tracks[i % len(tracks)]
        lines.append(json.dumps({"track_id": f"t{i}", "points": tr.points.tolist()}))
    run, parallel = classify(tmp_path, lines, "--workers", "2")
    assert run.returncode == 0, run.stderr
    _, inline = classify(tmp_path, lines, "--workers", "0")
    assert parallel == inline
    assert [r["track_id"] for r in parallel] == [json.loads(line)["track_id"] for line in lines]
    assert sum("error" in r for r in parallel) == sum(i % 97 == 5 for i in range(len(lines)))


def test_a_deeply_nested_line_and_a_huge_integer_id_are_answered_in_place(tmp_path: Path) -> None:
    deep = '{"track_id": "deep", "points": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}"
    huge = '{"track_id": 123456789012345678901234567890, "points": [[0, 1, 1], [1, 2, 2], [2, 3, 3]]}'
    run, results = classify(tmp_path, [GOOD, deep, huge])
    assert run.returncode == 0, run.stderr
    assert len(results) == 3
    assert results[1] == {"track_id": None, "error": "not JSON this agent reads: nested too deeply"}
    assert results[2]["track_id"] == 123456789012345678901234567890  # exact, not a float
    assert results[2]["behavior"] in LABELS
    assert '"track_id":123456789012345678901234567890,' in (tmp_path / "out.jsonl").read_text()


def test_a_worker_refuses_a_model_file_that_changed_after_classify_checked_it(tmp_path: Path) -> None:
    with pytest.raises(BehaviorModelError, match="changed after classify started"):
        jsonl._start_worker(str(default_model_path()), "0" * 64, "behavior-classifier/4", 256)
