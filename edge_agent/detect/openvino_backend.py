"""Ultralytics YOLO exports on OpenVINO: FP32, INT8 (QDQ models from ``retail-edge optimize``) and BF16.

OpenVINO reads the ONNX file itself (or an IR ``.xml``); letterboxing, decoding and NMS are the shared
:mod:`edge_agent.detect.yolo_common` code of the ONNX Runtime backend. A QDQ model's quantize/dequantize pairs
become OpenVINO ``FakeQuantize`` operations that its CPU plugin runs as int8 kernels. ``openvino`` is imported
lazily: install it with the ``openvino`` extra.

Native OpenVINO rather than ONNX Runtime's OpenVINO execution provider (``onnxruntime-openvino``): measured
side by side on the same files in interleaved rounds (``bench/openvino_ep.py``), neither was faster in every
run on this shared 2-core machine (the EP took 0.65 to 1.83 times native's time per frame, by run and model), so
the choice rests on the rest: the EP package replaces ``onnxruntime`` itself (1.24 where ONNX Runtime is 1.32),
so the behaviour model would run on an older runtime too, and the native API sets the inference precision
(BF16) and the device directly and tells whether a model runs quantized.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import supervision as sv

from edge_agent.config.models import OpenVinoDetectorConfig
from edge_agent.detect import yolo_common
from edge_agent.detect.base import Detector, DetectorError, file_version, require_model_file

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'retail-analytics[openvino]'"
# OpenVINO's names of element types, as the agent reports precisions
_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
_VIRTUAL_DEVICES = {"AUTO", "HETERO", "MULTI"}


def import_openvino() -> Any:
    """The ``openvino`` module, or a :class:`DetectorError` that names the extra to install."""
    try:
        import openvino  # noqa: PLC0415 - optional, only where the openvino backend is chosen
    except ImportError as e:
        raise DetectorError(f"the 'openvino' detector needs the openvino package: {INSTALL_HINT} ({e})") from e
    return openvino


def _dims(partial_shape: Any) -> list[int | None]:
    return [d.get_length() if d.is_static else None for d in partial_shape]


def precision_name(quantized: bool, float_precision: str) -> str:
    """``int8`` for a quantized model (``int8+bf16`` where its float layers run in bf16), else the float type."""
    name = _PRECISION_NAMES.get(float_precision, float_precision)
    if quantized:
        return "int8" if name == "fp32" else f"int8+{name}"
    return name


class OpenVinoDetector(Detector[yolo_common.YoloBatch, np.ndarray]):
    def __init__(self, config: OpenVinoDetectorConfig) -> None:
        self.config = config
        ov = import_openvino()
        require_model_file(config.model, "model file")
        core = ov.Core()
        # "GPU.1" is a GPU; "AUTO:GPU,CPU", "HETERO:..." and "MULTI:..." pick among the devices themselves
        known = {d.split(".")[0] for d in core.available_devices} | _VIRTUAL_DEVICES
        if config.device.split(":")[0].split(".")[0] not in known:
            raise DetectorError(
                f"OpenVINO device {config.device!r} is not available; available here: "
                f"{', '.join(core.available_devices) or 'none'}"
            )
        try:
            model = core.read_model(str(config.model))
        except Exception as e:  # OpenVINO raises plain RuntimeErrors for corrupt or unsupported files
            raise DetectorError(f"OpenVINO cannot read model {config.model}: {e}") from e
        if len(model.inputs) != 1 or len(model.inputs[0].get_partial_shape()) != 4:
            shapes = [str(i.get_partial_shape()) for i in model.inputs]
            raise DetectorError(f"{config.model}: unexpected input(s) {shapes}; expected one (batch, 3, height, width)")
        in_dims = _dims(model.inputs[0].get_partial_shape())
        if in_dims[1] not in (3, None):
            raise DetectorError(f"{config.model}: input has {in_dims[1]} channels; expected 3 (RGB)")
        if len(model.outputs) != 1:
            raise DetectorError(
                f"{config.model}: model has {len(model.outputs)} outputs; expected one (batch, 4+classes, anchors)"
            )
        try:
            yolo_common.check_output_layout(_dims(model.outputs[0].get_partial_shape()), str(config.model))
        except ValueError as e:
            raise DetectorError(str(e)) from e
        properties: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if config.threads:
            properties["INFERENCE_NUM_THREADS"] = config.threads
        if config.inference_precision != "auto":  # auto: the device's default
            self._check_precision_supported(core, config.device, config.inference_precision)
            properties["INFERENCE_PRECISION_HINT"] = config.inference_precision
        try:
            self.compiled = core.compile_model(model, config.device, properties)
        except Exception as e:
            raise DetectorError(f"OpenVINO cannot compile {config.model} for {config.device}: {e}") from e
        self.request = self.compiled.create_infer_request()
        quantized = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        try:
            hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        except Exception:  # some plugins (NPU) do not report a hint: their native precision is f16
            hint = "f16"
        self.precision = precision_name(quantized, str(hint))
        self.runtime = f"openvino/{config.device}"
        self.plan = yolo_common.InputPlan.from_shape(in_dims, config.imgsz, config.rect, config.max_batch)
        self.max_batch = self.plan.max_batch
        self.model_version = file_version(config.model)
        w, h = self.plan.warm_up_size()
        try:
            raw = self.infer(self.preprocess([np.zeros((h, w, 3), dtype=np.uint8)]))
            yolo_common.check_output_layout(raw.shape, str(config.model))
        except ValueError as e:
            raise DetectorError(str(e)) from e
        except Exception as e:
            raise DetectorError(f"{config.model}: warm-up inference failed: {e}") from e
        logger.info(
            "openvino detector %s on %s (%s): input %s, batch %s",
            self.model_version,
            config.device,
            self.precision,
            "x".join(map(str, self.plan.static_size)) if self.plan.static_size else f"dynamic (imgsz {config.imgsz})",
            self.max_batch,
        )

    @staticmethod
    def _check_precision_supported(core: Any, device: str, precision: str) -> None:
        if ":" in device or device == "AUTO":  # the virtual devices check their members themselves
            return
        capabilities = [str(c) for c in core.get_property(device, "OPTIMIZATION_CAPABILITIES")]
        if {"f32": "FP32", "bf16": "BF16", "f16": "FP16"}[precision] not in capabilities:
            raise DetectorError(
                f"inference_precision {precision} is not supported by OpenVINO device {device} "
                f"(it supports {', '.join(capabilities)}); use 'auto' or 'f32'"
            )

    def input_size(self, frame_w: int, frame_h: int) -> tuple[int, int]:
        return self.plan.input_size(frame_w, frame_h)

    def preprocess(self, frames: Sequence[np.ndarray]) -> yolo_common.YoloBatch:
        return self.plan.preprocess(frames)

    def infer(self, batch: yolo_common.YoloBatch) -> np.ndarray:
        self.request.infer({0: batch.tensor})
        # the request reuses its output buffer on the next call
        return np.array(self.request.get_output_tensor(0).data, copy=True)

    def postprocess(self, raw: np.ndarray, batch: yolo_common.YoloBatch) -> list[sv.Detections]:
        c = self.config
        return yolo_common.postprocess(raw, batch.boxes, c.confidence, c.nms_iou, c.classes)
