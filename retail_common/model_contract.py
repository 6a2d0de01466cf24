"""What a model file must look like to be rolled out: its inputs, outputs and metadata, checked the same way by
central (before any store gets it), ``retail-train register-detector`` and whoever else reads the contract.

A contract is plain data (names, shapes, metadata) so that it can be stored as JSON beside the file's SHA-256
and compared without loading a runtime. Shapes hold an int for a fixed axis and None for a dynamic one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL

Shape = tuple[int | None, ...]

BEHAVIOR_INPUTS = ("features", "mask")
FEATURE_CONFIG_KEY = "feature_config"  # ONNX metadata: the features the behaviour model was trained on
YOLO_CHANNELS = 3


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: Shape


@dataclass(frozen=True)
class ModelContract:
    """A model file's inputs and outputs in order, and its ONNX metadata."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelContract:
        data: dict[str, Any] = json.loads(text)

        def specs(items: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(i["name"], tuple(i["shape"])) for i in items)

        return cls(specs(data["inputs"]), specs(data["outputs"]), dict(data["metadata"]))


def contract_of(model: Any) -> ModelContract:
    """The contract of a loaded ``onnx.ModelProto`` (passed in, so this module needs no onnx import): graph
    inputs that are not initializers, outputs, and the metadata properties."""
    initializers = {i.name for i in model.graph.initializer}

    def shape(value: Any) -> Shape:
        dims = value.type.tensor_type.shape.dim
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)

    return ModelContract(
        inputs=tuple(TensorSpec(i.name, shape(i)) for i in model.graph.input if i.name not in initializers),
        outputs=tuple(TensorSpec(o.name, shape(o)) for o in model.graph.output),
        metadata={p.key: p.value for p in model.metadata_props},
    )


def yolo_layout_problem(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> str | None:
    """Why the tensors are not an Ultralytics YOLO export, or None.

    One NCHW image input with 3 channels (fixed or dynamic height and width), and a first output
    ``(batch, 4 + classes, anchors)``: any number of classes, fewer than anchors where both are fixed.
    """
    if len(inputs) != 1:
        return f"a YOLO detector has one image input, this file has {len(inputs)}: {[i.name for i in inputs]}"
    shape = inputs[0].shape
    if len(shape) != 4 or shape[1] not in (YOLO_CHANNELS, None):
        return f"input {inputs[0].name!r} has shape {_shape(shape)}; expected (batch, 3, height, width)"
    if not outputs:
        return "the file has no output"
    out = outputs[0].shape
    ok = len(out) == 3
    if ok and out[1] is not None and out[2] is not None:
        ok = 5 <= out[1] < out[2]
    elif ok and out[1] is not None:
        ok = out[1] >= 5
    if not ok:
        return (
            f"output {outputs[0].name!r} has shape {_shape(out)}; expected (batch, 4+classes, anchors) as exported "
            "by Ultralytics YOLOv8/YOLO11 (e.g. (1, 84, 8400))"
        )
    return None


def yolo_classes(outputs: Sequence[TensorSpec]) -> int | None:
    """How many classes a YOLO export scores (None when that axis is dynamic)."""
    width = outputs[0].shape[1]
    return None if width is None else width - 4


def behavior_layout_problem(contract: ModelContract) -> str | None:
    """Why the file is not a behaviour model an agent can load, or None: inputs ``features`` (N, T, F) and
    ``mask`` (N, T), one probabilities output, and its feature configuration in the metadata as JSON."""
    names = tuple(i.name for i in contract.inputs)
    if names != BEHAVIOR_INPUTS:
        return f"inputs {list(names)}, expected {list(BEHAVIOR_INPUTS)}"
    if len(contract.outputs) != 1:
        return f"{len(contract.outputs)} outputs, expected one (probabilities)"
    raw = contract.metadata.get(FEATURE_CONFIG_KEY)
    if raw is None:
        return f"no {FEATURE_CONFIG_KEY!r} in the model's metadata: the agent could not tell its features"
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        return f"{FEATURE_CONFIG_KEY!r} in the model's metadata is not JSON: {e}"
    if not isinstance(config, dict):
        return f"{FEATURE_CONFIG_KEY!r} in the model's metadata is not an object"
    return None


def contract_problem(model_name: str, contract: ModelContract) -> str | None:
    """Why a file registered as ``model_name`` cannot be rolled out as that role, or None."""
    if model_name == BEHAVIOR_MODEL:
        return behavior_layout_problem(contract)
    if model_name == DETECTOR_MODEL:
        return yolo_layout_problem(contract.inputs, contract.outputs)
    return f"model {model_name!r} is not one central rolls out ({BEHAVIOR_MODEL}, {DETECTOR_MODEL})"


def _shape(shape: Shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
