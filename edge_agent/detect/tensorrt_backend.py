"""Serialized TensorRT engines (Jetson, NVIDIA GPUs) of Ultralytics YOLO exports.

Only the engine execution lives here; letterboxing, decoding and NMS are the
shared :mod:`edge_agent.detect.yolo_common` code that the ONNX backend uses and
the tests cover. ``tensorrt`` and ``cuda-python`` are imported lazily: install
them with the ``tensorrt`` extra (on a Jetson they come with JetPack).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import supervision as sv

from edge_agent.config.models import TensorRTDetectorConfig
from edge_agent.detect import yolo_common
from edge_agent.detect.base import Detector, DetectorError, file_version, require_model_file

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'retail-analytics[tensorrt]' (on a Jetson, TensorRT comes with JetPack)"


def _import_runtime() -> tuple[Any, Any]:
    try:
        import tensorrt as trt  # noqa: PLC0415 - optional, only where the engine backend is chosen
        from cuda.bindings import runtime as cudart  # noqa: PLC0415
    except ImportError as e:
        raise DetectorError(f"the 'tensorrt' detector needs TensorRT and cuda-python: {INSTALL_HINT} ({e})") from e
    return trt, cudart


def _check(result: tuple[Any, ...]) -> Any:
    err, *rest = result
    if int(err) != 0:
        raise DetectorError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


class TensorRTDetector(Detector[yolo_common.YoloBatch, np.ndarray]):
    def __init__(self, config: TensorRTDetectorConfig) -> None:
        self.config = config
        trt, self._cudart = _import_runtime()
        require_model_file(config.engine, "TensorRT engine file")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(config.engine.read_bytes())
        if self.engine is None:
            raise DetectorError(f"cannot deserialize TensorRT engine {config.engine} (built for another TensorRT/GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        modes = {n: self.engine.get_tensor_mode(n) for n in names}
        self.input_name = next(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        n, _, h, w = self.engine.get_tensor_shape(self.input_name)
        if min(n, h, w) <= 0:
            raise DetectorError(f"{config.engine}: dynamic-shape engines are not supported; build with fixed shapes")
        self.static_size = (int(w), int(h))
        self.max_batch = int(n)
        out_shape = tuple(self.engine.get_tensor_shape(self.output_name))
        try:
            yolo_common.check_output_layout(out_shape, str(config.engine))
        except ValueError as e:
            raise DetectorError(str(e)) from e
        self._out_host = np.empty(out_shape, dtype=np.float32)
        in_bytes = self.max_batch * 3 * h * w * 4
        self._in_dev = _check(self._cudart.cudaMalloc(in_bytes))
        self._out_dev = _check(self._cudart.cudaMalloc(self._out_host.nbytes))
        self._stream = _check(self._cudart.cudaStreamCreate())
        self.context.set_tensor_address(self.input_name, int(self._in_dev))
        self.context.set_tensor_address(self.output_name, int(self._out_dev))
        self.model_version = file_version(config.engine)
        self.runtime = "tensorrt"
        # an engine's layer precisions are fixed at build time and not recorded as one value: say so
        self.precision = "engine"
        self.infer(self.preprocess([np.zeros((h, w, 3), dtype=np.uint8)]))
        logger.info("tensorrt detector %s: input %dx%d, batch %d", self.model_version, w, h, self.max_batch)

    def preprocess(self, frames: Sequence[np.ndarray]) -> yolo_common.YoloBatch:
        w, h = self.static_size
        batch = yolo_common.preprocess(frames, w, h)
        full = np.zeros((self.max_batch, 3, h, w), dtype=np.float32)
        full[: len(frames)] = batch.tensor
        return yolo_common.YoloBatch(np.ascontiguousarray(full), batch.boxes)

    def infer(self, batch: yolo_common.YoloBatch) -> np.ndarray:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(cudart.cudaMemcpyAsync(self._in_dev, batch.tensor.ctypes.data, batch.tensor.nbytes, h2d, self._stream))
        if not self.context.execute_async_v3(self._stream):
            raise DetectorError(f"TensorRT execution failed for {self.config.engine}")
        out = self._out_host
        _check(cudart.cudaMemcpyAsync(out.ctypes.data, self._out_dev, out.nbytes, d2h, self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return out.copy()

    def postprocess(self, raw: np.ndarray, batch: yolo_common.YoloBatch) -> list[sv.Detections]:
        c = self.config
        return yolo_common.postprocess(raw, batch.boxes, c.confidence, c.nms_iou, c.classes)
