"""``retail-train register-detector``: a YOLO export of any class count, static or dynamic input, registered as
a ``person-detector`` version in a real local MLflow store; files of the wrong layout refused with the reason."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from fleet_sim.models import tiny_behavior_model, tiny_detector_model
from retail_common.rollout import DETECTOR_MODEL
from training.cli import app


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def test_yolo_exports_are_registered_with_their_classes(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner = CliRunner()
    dynamic = _save(tiny_detector_model(classes=80), tmp_path / "yolov8n.onnx")
    static = _save(tiny_detector_model(classes=1, size=320), tmp_path / "people-320.onnx")
    first = runner.invoke(app, ["register-detector", str(dynamic), "--tracking-uri", uri])
    assert first.exit_code == 0, first.output
    assert "registered person-detector version 1" in first.output
    second = runner.invoke(
        app, ["register-detector", str(static), "--classes", "0", "--alias", "champion", "--tracking-uri", uri]
    )
    assert second.exit_code == 0, second.output
    client = MlflowClient(tracking_uri=uri)
    v1 = client.get_model_version(DETECTOR_MODEL, "1")
    assert (v1.tags["num_classes"], v1.tags["classes"], v1.tags["source_file"]) == ("80", "0", "yolov8n.onnx")
    assert v1.tags["input_shape"] == "(None, 3, None, None)"
    champion = client.get_model_version_by_alias(DETECTOR_MODEL, "champion")
    assert (str(champion.version), champion.tags["num_classes"], champion.tags["input_shape"]) == (
        "2",
        "1",
        "(None, 3, 320, 320)",
    )


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (tiny_behavior_model, [], "a YOLO detector has one image input, this file has 2"),
        (lambda: tiny_detector_model(classes=2), ["--classes", "5"], "class(es) [5] not among the model's 2 classes"),
        (None, [], "not a valid ONNX model"),
    ],
)
def test_files_of_the_wrong_layout_are_refused(tmp_path: Path, make: object, args: list[str], message: str) -> None:
    path = tmp_path / "model.onnx"
    if make is None:
        path.write_bytes(b"not a protobuf at all" * 10)
    else:
        _save(make(), path)  # type: ignore[operator]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(app, ["register-detector", str(path), *args, "--tracking-uri", uri])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "mlflow.db").exists()  # nothing registered, not even a store created
