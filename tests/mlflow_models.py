"""A real local MLflow registry for tests: tiny models (:mod:`fleet_sim.models`) registered the way
``retail-train`` registers, and a way to damage a stored file as a broken disk or a bad upload would."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnx

from fleet_sim.models import tiny_behavior_model, tiny_detector_model
from training.registry import register_onnx

__all__ = ["damage", "register", "registered_file", "registry", "tiny_behavior_model", "tiny_detector_model"]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def register(tracking_uri: str, name: str, model: onnx.ModelProto, alias: str | None = None) -> str:
    """Registers ``model`` as a new version of ``name`` as ``retail-train`` does; returns the version."""
    return register_onnx(model, name, tracking_uri, {"origin": "test"}, alias)


def registered_file(tracking_uri: str, name: str, version: str) -> Path:
    """Where the registry keeps the version's ONNX file (a local store's artifact folder)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    source = client.get_model_version(name, version).source
    location = client.get_logged_model(source.rsplit("/", 1)[-1]).artifact_location
    return Path(location.removeprefix("file://")) / "model.onnx"


def damage(path: Path, keep: float = 0.5) -> None:
    """The file cut to a fraction of its bytes, as a broken upload leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def registry(root: Path, models: Sequence[tuple[str, onnx.ModelProto]]) -> tuple[str, list[str]]:
    """A local MLflow store under ``root`` with ``models`` registered in order; its URI and their versions."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return uri, [register(uri, name, model) for name, model in models]
