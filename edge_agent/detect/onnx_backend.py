"""Ultralytics YOLO exports on ONNX Runtime (CPU, CUDA or TensorRT execution providers)."""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort
import supervision as sv

from edge_agent.config.models import OnnxDetectorConfig
from edge_agent.detect import yolo_common
from edge_agent.detect.base import Detector, DetectorError, DetectorLayoutError, file_version, require_model_file

logger = logging.getLogger(__name__)

#: the metadata key ``retail-edge optimize`` marks its output's precision with (edge_agent.optimize.quantize)
PRECISION_KEY = "retail_analytics.precision"

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def tensorrt_runtime_present() -> bool:
    """Whether TensorRT's runtime library loads: onnxruntime-gpu lists its TensorRT provider even where
    TensorRT is not installed, and then fails over to CUDA only after a second and a screenful of errors."""
    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def choose_providers(
    requested: Sequence[str] | None, available: Sequence[str], tensorrt_present: bool = True
) -> list[str]:
    """Requested providers (all must exist) or the preferred ones that are available and usable, in order."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise DetectorError(
                f"ONNX Runtime execution provider(s) not available: {', '.join(missing)}; "
                f"available here: {', '.join(available)}"
            )
        return list(requested)
    usable = [p for p in available if tensorrt_present or p != "TensorrtExecutionProvider"]
    return [p for p in PREFERRED_PROVIDERS if p in usable] or usable


def model_precision(metadata: Mapping[str, str], input_type: str) -> str:
    """What a model computes in: "int8" where ``retail-edge optimize`` wrote so in its metadata, "fp16" for a
    half-precision input, else "fp32" (a QDQ model quantized elsewhere also reads as "fp32": nothing in
    ONNX Runtime's session tells it apart without parsing the graph)."""
    marked = metadata.get(PRECISION_KEY)
    if marked:
        return marked
    return "fp16" if input_type == "tensor(float16)" else "fp32"


class OnnxDetector(Detector[yolo_common.YoloBatch, np.ndarray]):
    def __init__(self, config: OnnxDetectorConfig) -> None:
        self.config = config
        require_model_file(config.model, "ONNX model file")
        available = ort.get_available_providers()
        providers = choose_providers(
            config.providers, available, "TensorrtExecutionProvider" in available and tensorrt_runtime_present()
        )
        options = ort.SessionOptions()
        if config.threads:
            options.intra_op_num_threads = config.threads
        try:
            self.session = ort.InferenceSession(str(config.model), sess_options=options, providers=providers)
        except Exception as e:  # ORT raises its own untyped errors for corrupt or unsupported files
            raise DetectorError(f"cannot load ONNX model {config.model}: {e}") from e
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, "3"):
            shapes = [tuple(i.shape) for i in inputs]
            raise DetectorLayoutError(
                f"{config.model}: unexpected input(s) {shapes}; expected one (batch, 3, height, width)"
            )
        if len(outputs) != 1:
            raise DetectorLayoutError(
                f"{config.model}: model has {len(outputs)} outputs; expected one (batch, 4+classes, anchors) "
                "as in an Ultralytics detection export (segmentation exports are not supported)"
            )
        try:
            yolo_common.check_output_layout(outputs[0].shape, str(config.model))
        except ValueError as e:
            raise DetectorLayoutError(str(e)) from e
        self.input_name = inputs[0].name
        self.plan = yolo_common.InputPlan.from_shape(inputs[0].shape, config.imgsz, config.rect, config.max_batch)
        self.static_size = self.plan.static_size
        self.max_batch = self.plan.max_batch
        self.model_version = file_version(config.model)
        self.runtime = "onnxruntime/" + self.session.get_providers()[0].removesuffix("ExecutionProvider")
        self.precision = model_precision(self.session.get_modelmeta().custom_metadata_map, inputs[0].type)
        self._warm_up()
        logger.info(
            "onnx detector %s (%s): input %s, batch %s, providers %s",
            self.model_version,
            self.precision,
            "x".join(map(str, self.static_size)) if self.static_size else f"dynamic (imgsz {config.imgsz})",
            self.max_batch,
            self.session.get_providers(),
        )

    def input_size(self, frame_w: int, frame_h: int) -> tuple[int, int]:
        return self.plan.input_size(frame_w, frame_h)

    def _warm_up(self) -> None:
        w, h = self.plan.warm_up_size()
        batch = self.preprocess([np.zeros((h, w, 3), dtype=np.uint8)])
        try:
            raw = self.infer(batch)
        except Exception as e:
            raise DetectorError(f"{self.config.model}: warm-up inference failed: {e}") from e
        try:
            yolo_common.check_output_layout(raw.shape, str(self.config.model))
        except ValueError as e:
            raise DetectorLayoutError(str(e)) from e

    def preprocess(self, frames: Sequence[np.ndarray]) -> yolo_common.YoloBatch:
        return self.plan.preprocess(frames)

    def infer(self, batch: yolo_common.YoloBatch) -> np.ndarray:
        out = self.session.run(None, {self.input_name: batch.tensor})[0]
        return np.asarray(out)

    def postprocess(self, raw: np.ndarray, batch: yolo_common.YoloBatch) -> list[sv.Detections]:
        c = self.config
        return yolo_common.postprocess(raw, batch.boxes, c.confidence, c.nms_iou, c.classes)
