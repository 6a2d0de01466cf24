"""ONNX export of the behaviour network, with what the edge needs to use it in the file's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch

from edge_agent.behavior.features import feature_config
from edge_agent.behavior.labeller import LABELLER_KEY, LabellerConfig
from training.model import BehaviorNet

OPSET = 17
#: metadata entry holding the temperature the logits are divided by (the raw probabilities can be recovered)
TEMPERATURE_KEY = "temperature"


def export_onnx(model: BehaviorNet, path: Path, model_version: str, labeller: LabellerConfig | None = None) -> None:
    """Dynamic batch and sequence length; inputs ``features`` (N, T, F) and ``mask`` (N, T); the labeller's
    combination with the rules, when given, in the metadata."""
    model.eval()
    x = torch.zeros(2, 16, model.n_features)
    mask = torch.ones(2, 16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (x, mask),
            str(path),
            input_names=["features", "mask"],
            output_names=["probabilities"],
            dynamic_axes={
                "features": {0: "batch", 1: "steps"},
                "mask": {0: "batch", 1: "steps"},
                "probabilities": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    extra = {TEMPERATURE_KEY: repr(float(model.temperature))}
    if labeller is not None:
        extra[LABELLER_KEY] = labeller.to_json()
    set_metadata(path, model_version, extra)


def set_metadata(path: Path, model_version: str, extra: dict[str, str] | None = None) -> None:
    """The model's version and feature configuration (and ``extra`` entries) in the file; other entries are kept."""
    proto = onnx.load(str(path))
    meta = {"model_version": model_version, "feature_config": json.dumps(feature_config()), **(extra or {})}
    kept = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
