"""Tiny ONNX models for simulated rollouts and tests, built with ``onnx``'s helpers (milliseconds, no torch):
a behaviour model of the agent's contract whose answers lean towards one label, and a YOLO-shaped detector."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent.behavior.features import N_FEATURES, feature_config
from retail_common.taxonomy import LABELS

HIDDEN = 256  # makes the file about 20 kB: several DownloadModel chunks of 4 KiB


def tiny_behavior_model(favoured: str = "interested", weight: float = 2.0, seed: int = 0) -> onnx.ModelProto:
    """A valid behaviour model (inputs ``features`` (N, T, F) and ``mask`` (N, T), output ``probabilities``
    (N, 6), the agent's feature configuration in its metadata) whose answers lean towards ``favoured``."""
    rng = np.random.default_rng(seed)
    bias = np.zeros(len(LABELS), np.float32)
    bias[LABELS.index(favoured)] = weight
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.01, (N_FEATURES, HIDDEN)).astype(np.float32), "W1"),
        numpy_helper.from_array(rng.normal(0, 0.01, (HIDDEN, len(LABELS))).astype(np.float32), "W2"),
        numpy_helper.from_array(bias, "B"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["features"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["mean", "W1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["relu"]),
        helper.make_node("MatMul", ["relu", "W2"], ["logits"]),
        helper.make_node("Add", ["logits", "B"], ["biased"]),
        helper.make_node("Softmax", ["biased"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-behaviour",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "steps", N_FEATURES]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "steps"]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(LABELS)])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime of the oldest supported release reads
    model.metadata_props.add(key="feature_config", value=json.dumps(feature_config()))
    onnx.checker.check_model(model)
    return model


def tiny_detector_model(classes: int = 1, size: int | None = None) -> onnx.ModelProto:
    """A YOLO-shaped detector: images (N, 3, H, W) to (N, 4 + classes, anchors); ``size`` fixes H and W."""
    side: int | str = size if size is not None else "height"
    width: int | str = size if size is not None else "width"
    kernel = numpy_helper.from_array(np.zeros((4 + classes, 3, 32, 32), np.float32), "K")
    shape = numpy_helper.from_array(np.array([0, 4 + classes, -1], np.int64), "S")
    nodes = [
        helper.make_node("Conv", ["images", "K"], ["grid"], strides=[32, 32]),
        helper.make_node("Reshape", ["grid", "S"], ["output0"]),
    ]
    anchors: int | str = (size // 32) ** 2 if size is not None else "anchors"
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, side, width])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 4 + classes, anchors])],
        [kernel, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
