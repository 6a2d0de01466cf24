"""A tiny training run end to end: logged to a real local MLflow store, registered, read back by alias."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.behavior.features import batch_features
from training.dataset import DatasetError, read_labelled_jsonl
from training.evaluate import temperature_of
from training.export import export_onnx
from training.fit import ALIAS, REGISTERED_NAME, FitConfig, fit
from training.model import BehaviorNet
from training.simulate import simulate, write_jsonl


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, object]:
    root = tmp_path_factory.mktemp("mlflow")
    real = root / "labelled.jsonl"
    write_jsonl(simulate(2, seed=99), real)  # stands in for a store's annotated tracks
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = fit(FitConfig(per_class=12, epochs=2, real=(real,)), uri, export_to=root / "model.onnx")
    return uri, root, result


def test_run_is_logged_and_registered_with_an_alias(tiny_run: tuple[str, Path, object]) -> None:
    from mlflow.tracking import MlflowClient

    uri, root, result = tiny_run
    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias(REGISTERED_NAME, ALIAS)
    assert str(version.version) == result.registered_version  # type: ignore[attr-defined]
    assert float(version.tags["val_macro_f1"]) >= 0.0
    assert json.loads(version.tags["feature_config"])["labels"][0] == "decisive"
    run = client.get_run(version.run_id)
    assert run.data.params["n_real"] == "12"  # 2 per class mixed in from the labelled file
    assert {"train_loss", "val_accuracy", "val_macro_f1", "val_f1_confused"} <= set(run.data.metrics)
    assert {"temperature", "val_ece", "val_ece_before_calibration"} <= set(run.data.metrics)
    assert {"labeller_val_macro_f1", "labeller_val_ece", "labeller_temperature"} <= set(run.data.metrics)
    assert run.data.metrics["temperature"] == pytest.approx(float(version.tags["temperature"]), rel=1e-3)
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 2  # per epoch
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "feature_config.json", "onnx", "validation_report.txt"} <= artifacts
    assert (root / "mlartifacts").is_dir(), "artifacts go to the folder beside the local store"


def test_exported_model_runs_on_the_edge_classifier(tiny_run: tuple[str, Path, object]) -> None:
    _, root, result = tiny_run
    classifier = BehaviorClassifier(root / "model.onnx")
    assert classifier.model_version == f"{REGISTERED_NAME}/{result.registered_version}"  # type: ignore[attr-defined]
    # the temperature fitted on held-out tracks travels in the file, so raw probabilities can be recovered
    assert temperature_of(classifier) == pytest.approx(result.temperature)  # type: ignore[attr-defined]
    # and so does the combination with the rules the labeller was measured with, its temperature fitted too
    assert classifier.labeller == result.labeller  # type: ignore[attr-defined]
    assert classifier.labeller is not None
    assert (classifier.labeller.rules_below, classifier.labeller.rule_weight) == (0.9, 16.0)
    tracks = [(tr.points[:, 0], tr.points[:, 1:]) for tr in simulate(1, seed=5)]
    probs = classifier.predict(tracks)
    assert probs.shape == (6, 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_pytorch_and_onnx_runtime_agree(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BehaviorNet()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, "behavior-classifier/test")
    rng = np.random.default_rng(0)
    tracks = []
    for n in (5, 40, 300, 1200):  # different lengths: padding and masking are exercised
        t = np.cumsum(rng.uniform(0.05, 0.5, n))
        tracks.append((t, np.cumsum(rng.normal(0, 0.3, (n, 2)), axis=0)))
    x, mask = batch_features(tracks)
    with torch.no_grad():
        expected = model(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x, "mask": mask})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # padding never changes a track's answer: each alone equals its row in the padded batch
    for i, track in enumerate(tracks):
        xi, mi = batch_features([track])
        alone = session.run(None, {"features": xi, "mask": mi})[0][0]
        np.testing.assert_allclose(alone, got[i], atol=1e-4)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"track_id": "a", "points": [[0,0,0],[1,1,1],[2,2,2]]}', "label None is not one of"),
        ('{"track_id": "a", "label": "angry", "points": [[0,0,0],[1,1,1],[2,2,2]]}', "label 'angry'"),
        ('{"track_id": "a", "label": "decisive", "points": [[0,0,0]]}', "at least 3 points"),
        ("not json", "not JSON"),
    ],
)
def test_bad_labelled_files_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text('{"track_id": "ok", "label": "decisive", "points": [[0,0,0],[1,1,1],[2,2,2]]}\n' + line + "\n")
    with pytest.raises(DatasetError, match=f"labels.jsonl:2: .*{message}"):
        read_labelled_jsonl(path)


def test_k_fold_cross_validation_is_logged(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = fit(FitConfig(per_class=6, epochs=1, folds=3), uri, register=False)
    assert result.registered_version is None
    metrics = MlflowClient(tracking_uri=uri).get_run(result.run_id).data.metrics
    assert 0.0 <= metrics["cv_macro_f1_mean"] <= 1.0
    assert metrics["cv_macro_f1_std"] >= 0.0
