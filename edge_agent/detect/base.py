"""The detector interface and the registry that builds a backend from its config.

Every backend works in three stages so the pipeline can time them separately and
overlap them with decoding: ``preprocess`` (frames to network input), ``infer``
(the model) and ``postprocess`` (raw output to :class:`supervision.Detections` in
the original frame's pixels).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import supervision as sv

from edge_agent.config.models import DetectorConfig
from retail_common.models import ModelNameError, file_model_ref

Batch = TypeVar("Batch")
Raw = TypeVar("Raw")


class DetectorError(RuntimeError):
    """A detector cannot start or run: missing or bad model file, missing runtime."""


class DetectorLayoutError(DetectorError):
    """The model loads but its inputs or outputs are not a YOLO detector's: it would give meaningless boxes."""


class Detector(ABC, Generic[Batch, Raw]):
    """Finds people in frames. Implementations warm up in their constructor."""

    #: "name/version" of the model that produced the detections, stored in every summary (retail_common.models).
    model_version: str
    #: largest number of frames ``detect`` takes at once (1 for fixed-batch models).
    max_batch: int = 1
    #: what runs the model, e.g. "onnxruntime/CPU", "openvino/CPU", "tensorrt", "opencv" (status and metrics)
    runtime: str = "unknown"
    #: the arithmetic it runs in: "fp32", "fp16", "bf16", "int8" (status and metrics)
    precision: str = "unknown"

    @abstractmethod
    def preprocess(self, frames: Sequence[np.ndarray]) -> Batch: ...

    @abstractmethod
    def infer(self, batch: Batch) -> Raw: ...

    @abstractmethod
    def postprocess(self, raw: Raw, batch: Batch) -> list[sv.Detections]: ...

    def detect(self, frames: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detections per frame, boxes in each frame's own pixel coordinates."""
        out: list[sv.Detections] = []
        for i in range(0, len(frames), self.max_batch):
            batch = self.preprocess(frames[i : i + self.max_batch])
            out.extend(self.postprocess(self.infer(batch), batch))
        return out


def file_version(path: Path) -> str:
    """The model's ``name/version`` for summaries (:func:`retail_common.models.file_model_ref`)."""
    try:
        return str(file_model_ref(path))
    except ModelNameError as e:
        raise DetectorError(f"model file {path.name}: {e}") from e


def require_model_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DetectorError(f"{what} not found: {path}")
    if not path.is_file():
        raise DetectorError(f"{what} is not a file: {path}")
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        raise DetectorError(f"{what} is not readable: {path}: {e.strerror or e}") from e


# type -> "module:factory"; modules import lazily so that e.g. TensorRT is only loaded when chosen.
_REGISTRY: dict[str, str] = {
    "hog": "edge_agent.detect.hog_backend:HogDetector",
    "onnx": "edge_agent.detect.onnx_backend:OnnxDetector",
    "openvino": "edge_agent.detect.openvino_backend:OpenVinoDetector",
    "tensorrt": "edge_agent.detect.tensorrt_backend:TensorRTDetector",
}


def build_detector(config: DetectorConfig) -> Detector[Any, Any]:
    target = _REGISTRY.get(config.type)
    if target is None:
        raise DetectorError(f"unknown detector type {config.type!r}; known: {', '.join(sorted(_REGISTRY))}")
    module_name, attr = target.split(":")
    factory: Callable[[Any], Detector[Any, Any]] = getattr(importlib.import_module(module_name), attr)
    return factory(config)
