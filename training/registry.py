"""Registering ONNX files as MLflow model versions, the form central rolls out from.

``retail-train fit`` registers behaviour models; ``retail-train register-detector`` registers a store owner's
YOLO export as a ``person-detector`` version after checking its layout, so detectors travel the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from retail_common.model_contract import ModelContract, contract_of, yolo_classes, yolo_layout_problem
from retail_common.rollout import DETECTOR_MODEL


class RegistrationError(ValueError):
    """A file that cannot be registered as asked (not ONNX, wrong layout, classes it does not have)."""


def use_experiment(tracking_uri: str, experiment: str) -> None:
    """Track to ``experiment`` at ``tracking_uri``; a local SQLite store keeps artifacts in ``mlartifacts/``
    beside it (not in the working directory)."""
    import mlflow  # noqa: PLC0415 - heavy, and only registering needs it

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = None
        if tracking_uri.startswith("sqlite:///"):
            artifacts = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)


def load_checked(path: Path) -> tuple[object, ModelContract]:
    """The ONNX model and its contract; :class:`RegistrationError` when the file is not a valid ONNX model."""
    import onnx  # noqa: PLC0415 - heavy

    try:
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises DecodeError, ValidationError, OSError and more for a bad file
        raise RegistrationError(f"{path}: not a valid ONNX model ({type(e).__name__}: {str(e)[:300]})") from e
    return model, contract_of(model)


def register_onnx(
    model: object, name: str, tracking_uri: str, tags: Mapping[str, str], alias: str | None = None
) -> str:
    """Log the loaded ONNX model in a run of experiment ``name``, register it as a new version of ``name`` with
    ``tags`` (and ``alias``); returns the version."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    use_experiment(tracking_uri, name)
    with mlflow.start_run(run_name=f"register {name}"):
        info = mlflow.onnx.log_model(onnx_model=model, name="model", save_as_external_data=False)
        version = str(mlflow.register_model(info.model_uri, name).version)
    client = MlflowClient(tracking_uri=tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


def register_detector(path: Path, tracking_uri: str, classes: Sequence[int], alias: str | None = None) -> str:
    """Check that ``path`` is an Ultralytics YOLO export (any number of classes, static or dynamic input) whose
    class axis has every class of ``classes`` (the ones the agent keeps as people), then register it as a
    ``person-detector`` version tagged with them. :class:`RegistrationError` names what is wrong."""
    model, contract = load_checked(path)
    problem = yolo_layout_problem(contract.inputs, contract.outputs)
    if problem:
        raise RegistrationError(f"{path}: {problem}")
    n = yolo_classes(contract.outputs)
    wrong = [c for c in classes if c < 0 or (n is not None and c >= n)]
    if wrong:
        raise RegistrationError(f"{path}: class(es) {wrong} not among the model's {n} classes (0..{(n or 1) - 1})")
    tags = {
        "source_file": path.name,
        "classes": ",".join(map(str, classes)),
        "num_classes": "dynamic" if n is None else str(n),
        "input_shape": str(contract.inputs[0].shape),
    }
    return register_onnx(model, DETECTOR_MODEL, tracking_uri, tags, alias)
