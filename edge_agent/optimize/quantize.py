"""INT8 for a YOLO detector, calibrated on the store's own frames and checked against FP32 before use.

ONNX Runtime's static quantization writes QDQ pairs (uint8 activations, int8 weights per output channel) around
every operator, with activation ranges measured on the calibration frames (min/max). What stays in float is the
**decoding tail**: the nodes between the last feature convolutions and the output (box decoding, the DFL
expectation over a softmax, the sigmoid of the class scores and the concatenation of pixel boxes with [0, 1]
scores). That concatenation is what breaks a naive quantization: one uint8 scale over values from 0 to 640 is
2.5 px a step, so every score rounds to 0. Keeping those few cheap nodes in float costs nothing measurable.

The result is refused unless its detections agree with FP32's on held-out frames (:mod:`.agreement`); when it is
accepted, its provenance (source SHA-256, calibration set size, agreement figures) goes into the ONNX metadata
under :data:`PROVENANCE_KEY` and the precision under ``retail_analytics.precision``, where ONNX Runtime and the agent
read it back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from edge_agent.config.models import DetectorConfig, OnnxDetectorConfig, OpenVinoDetectorConfig
from edge_agent.detect.base import Detector
from edge_agent.detect.onnx_backend import PRECISION_KEY, OnnxDetector
from edge_agent.optimize.agreement import Agreement, AgreementThresholds, compare
from edge_agent.optimize.frames import FrameSample

logger = logging.getLogger(__name__)

PROVENANCE_KEY = "retail_analytics.optimize"
MIN_OPSET = 13
# operators whose output is a fixed function of a probability distribution, not a learned feature: a
# convolution fed by a softmax is YOLOv8's DFL (the expected box edge over 16 bins) and belongs to decoding
_DISTRIBUTION_OPS = {"Softmax"}
_LAYOUT_OPS = {"Transpose", "Reshape"}


class OptimizeError(RuntimeError):
    """The model cannot be quantized (unreadable, no frames, ONNX Runtime refused it)."""


class AgreementRefusedError(OptimizeError):
    """The quantized detector disagrees with FP32 beyond the thresholds; nothing was written."""

    def __init__(self, agreement: Agreement, shortfalls: Sequence[str]) -> None:
        super().__init__("INT8 detections disagree with FP32 on the held-out frames: " + "; ".join(shortfalls))
        self.agreement = agreement
        self.shortfalls = tuple(shortfalls)


@dataclass(frozen=True)
class QuantizeSettings:
    """How to quantize. ``float_decode=False`` quantizes the decoding tail too (broken for YOLO: kept to show it)."""

    float_decode: bool = True
    per_channel: bool = True


@dataclass(frozen=True)
class OptimizeResult:
    path: Path
    agreement: Agreement
    provenance: dict[str, Any]


def _fed_by_distribution(node: onnx.NodeProto, producer: dict[str, onnx.NodeProto]) -> bool:
    """Whether the node's input is a softmax's output, seen through layout-only operators."""
    feeder = producer.get(node.input[0])
    while feeder is not None and feeder.op_type in _LAYOUT_OPS:
        feeder = producer.get(feeder.input[0])
    return feeder is not None and feeder.op_type in _DISTRIBUTION_OPS


def decode_tail(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes between the last feature convolutions and the graph's outputs.

    Walks back from each output through every node that is not a convolution; a convolution ends the walk
    unless it is fed by a softmax, possibly transposed or reshaped (DFL's fixed expectation, part of decoding).
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    tail: set[str] = set()
    pending = [o.name for o in model.graph.output]
    while pending:
        node = producer.get(pending.pop())
        if node is None or node.name in tail:
            continue
        if node.op_type == "Conv" and not _fed_by_distribution(node, producer):
            continue
        tail.add(node.name)
        pending.extend(node.input)
    return tail


def reference_config(detector: DetectorConfig) -> OnnxDetectorConfig:
    """The FP32 ONNX Runtime detector to quantize and check against, from the agent's detector settings.

    An ``openvino`` detector whose model is an ONNX file is quantized the same way (OpenVINO runs QDQ models).
    """
    if isinstance(detector, OnnxDetectorConfig):
        return detector.model_copy(update={"providers": ["CPUExecutionProvider"]})
    if isinstance(detector, OpenVinoDetectorConfig) and detector.model.suffix.lower() == ".onnx":
        fields = detector.model_dump(exclude={"type", "device", "inference_precision"})
        return OnnxDetectorConfig(type="onnx", providers=["CPUExecutionProvider"], **fields)
    raise OptimizeError(
        f"optimize needs a YOLO detector in an ONNX file (detector type onnx, or openvino with an .onnx model); "
        f"the configuration has type {detector.type!r}"
        + (f" with model {detector.model}" if isinstance(detector, OpenVinoDetectorConfig) else "")
    )


def _name_nodes(model: onnx.ModelProto) -> bool:
    """Give every node a unique name (the quantizer excludes nodes by name; exporters may leave them empty)."""
    names = [node.name for node in model.graph.node]
    if all(names) and len(set(names)) == len(names):
        return False
    for i, node in enumerate(model.graph.node):
        node.name = f"{node.op_type}_{i}"
    return True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _DropAdvice(logging.Filter):
    """Drops the quantizer's advice to run its pre-processing first (logged on the root logger at every call):
    an Ultralytics export has its batch norms folded and its shapes inferred already, so it changes nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Please consider to run pre-processing", "Please consider pre-proc"))


class _FrameReader(CalibrationDataReader):  # type: ignore[misc]  # ONNX Runtime ships no type hints
    """Calibration inputs: each frame preprocessed exactly as the detector does at run time."""

    def __init__(self, detector: OnnxDetector, frames: Sequence[np.ndarray]) -> None:
        self._detector = detector
        self._frames: Iterator[np.ndarray] = iter(frames)

    def get_next(self) -> dict[str, np.ndarray] | None:
        frame = next(self._frames, None)
        if frame is None:
            return None
        return {self._detector.input_name: self._detector.preprocess([frame]).tensor}


def quantize(
    reference: OnnxDetector, frames: Sequence[np.ndarray], dest: Path, settings: QuantizeSettings
) -> list[str]:
    """Write the INT8 (QDQ) model of ``reference`` to ``dest``; the names of the nodes left in float."""
    if not frames:
        raise OptimizeError("no calibration frames")
    source = reference.config.model
    try:
        model = onnx.load(str(source), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others for a corrupt file
        raise OptimizeError(f"cannot read ONNX model {source}: {e}") from e
    changed = _name_nodes(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        # per-channel DequantizeLinear (its axis) exists from opset 13; ONNX Runtime runs it in an opset-12
        # graph anyway, OpenVINO rightly refuses: upgrade first (Ultralytics exports opset 12 by default)
        try:
            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception as e:  # the converter raises plain RuntimeErrors for operators it cannot convert
            raise OptimizeError(f"cannot convert {source} from opset {opset} to {MIN_OPSET}: {e}") from e
        changed = True
    kept = sorted(decode_tail(model)) if settings.float_decode else []
    if changed:
        source = dest.with_name(f".{dest.stem}-prepared.onnx")
        onnx.save(model, str(source))
    quiet = _DropAdvice()
    logging.getLogger().addFilter(quiet)
    try:
        quantize_static(
            str(source),
            str(dest),
            _FrameReader(reference, frames),
            quant_format=QuantFormat.QDQ,
            per_channel=settings.per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=kept,
        )
    except Exception as e:  # ONNX Runtime's quantizer raises plain exceptions of many kinds
        raise OptimizeError(f"ONNX Runtime could not quantize {reference.config.model}: {e}") from e
    finally:
        logging.getLogger().removeFilter(quiet)
        if source != reference.config.model:
            source.unlink(missing_ok=True)
    return kept


def _detections(detector: Detector[Any, Any], frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [d.xyxy for frame in frames for d in detector.detect([frame])]


def check(
    reference: Detector[Any, Any],
    candidate: Detector[Any, Any],
    frames: Sequence[np.ndarray],
    thresholds: AgreementThresholds,
) -> Agreement:
    """The candidate's agreement with the reference on ``frames`` (:func:`.agreement.compare`)."""
    return compare(_detections(reference, frames), _detections(candidate, frames), thresholds)


def write_provenance(path: Path, provenance: dict[str, Any]) -> None:
    """Mark an INT8 model as such and record where it came from, in its ONNX metadata."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props[PRECISION_KEY] = "int8"
    props[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def optimize(
    reference: OnnxDetector,
    sample: FrameSample,
    out: Path,
    thresholds: AgreementThresholds | None = None,
    settings: QuantizeSettings | None = None,
) -> OptimizeResult:
    """Quantize the reference (FP32) detector's model, check it on the held-out frames, write it to ``out`` if
    it agrees.

    :class:`AgreementRefusedError` (nothing written) when it does not. ``out`` is replaced only by a finished,
    checked file: the work happens in a temporary folder beside it.
    """
    thresholds = thresholds or AgreementThresholds()
    settings = settings or QuantizeSettings()
    config = reference.config
    if out.resolve() == config.model.resolve():
        raise OptimizeError(f"the output {out} would overwrite the source model")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".optimize-", dir=out.parent))
    try:
        staged = work / out.name  # the final name: the detector's version is derived from the file's stem
        kept = quantize(reference, sample.calibration, staged, settings)
        candidate = OnnxDetector(config.model_copy(update={"model": staged}))
        agreement = check(reference, candidate, sample.held_out, thresholds)
        logger.info("optimize %s: agreement %s", config.model.name, agreement.to_json())
        shortfalls = agreement.shortfalls(thresholds)
        if shortfalls:
            raise AgreementRefusedError(agreement, shortfalls)
        provenance: dict[str, Any] = {
            "tool": "retail-edge optimize",
            "precision": "int8",
            "source": config.model.name,
            "source_sha256": sha256_of(config.model),
            "calibration_frames": len(sample.calibration),
            "held_out_frames": len(sample.held_out),
            "agreement": agreement.to_json(),
            "thresholds": {
                "recall": thresholds.recall,
                "precision": thresholds.precision,
                "mean_iou": thresholds.mean_iou,
                "match_iou": thresholds.match_iou,
                "confidence": config.confidence,
            },
            "quantization": {
                "format": "QDQ",
                "activations": "uint8",
                "weights": "int8 per channel" if settings.per_channel else "int8 per tensor",
                "calibration": "minmax",
                "float_nodes": len(kept),
            },
            "onnxruntime": ort.__version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_provenance(staged, provenance)
        os.replace(staged, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return OptimizeResult(out, agreement, provenance)


def read_provenance(path: Path) -> dict[str, Any] | None:
    """The provenance :func:`optimize` wrote into a model, or None for a model it did not write."""
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    raw = props.get(PROVENANCE_KEY)
    return None if raw is None else dict(json.loads(raw))
