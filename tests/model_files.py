"""Tiny real ONNX models for the updater's tests: detectors and behaviour models, good and bad in known ways.

Detectors take ``images`` (batch, 3, height, width) and return a YOLOv8-layout tensor (batch, 5, 16) holding a
constant box (one class, ``person``), scaled by nothing the pixels say unless the mode asks for it. Behaviour
models take ``features`` and ``mask`` and return (batch, 6), with the agent's feature configuration in their
metadata as ``retail-train`` writes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent.behavior import features

ANCHORS = 16
OPSET = [helper.make_opsetid("", 17)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name + "_value"))


def person_output(found: bool = True) -> np.ndarray:
    """(1, 5, 16): anchor 0 a person standing in the middle of a 640x384 input, the rest empty."""
    out = np.zeros((1, 5, ANCHORS), np.float32)
    if found:
        out[0, :, 0] = 320, 192, 80, 300, 0.9
    return out


def detector(path: Path, mode: str = "person") -> Path:
    """``person``: finds one person in every frame; ``empty``: finds nobody; ``brightness``: finds one person
    with the frame's mean brightness as score (someone in bright frames, nobody in dark ones);
    ``nan_when_dark``: NaN outputs for frames darker on average than 0.1 (the smoke test's frames are mid-grey
    and noise); ``bad_layout``: an output of (batch, 16, 3), which is not (batch, 4 + classes, anchors)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["per_channel"], axes=[2, 3], keepdims=0),  # (N, 3)
        helper.make_node("ReduceMean", ["per_channel"], ["mean"], axes=[1], keepdims=1),  # (N, 1)
        helper.make_node("Unsqueeze", ["mean", "axis2"], ["mean3"]),  # (N, 1, 1)
        _const("axis2", np.array([2], np.int64)),
        _const("zero", np.array(0.0, np.float32)),
    ]
    if mode == "nan_when_dark":
        nodes += [
            _const("threshold", np.array(0.1, np.float32)),
            helper.make_node("Sub", ["mean3", "threshold"], ["margin"]),
            helper.make_node("Log", ["margin"], ["log"]),  # NaN below the threshold
            helper.make_node("Mul", ["log", "zero"], ["poison"]),
        ]
    else:
        nodes.append(helper.make_node("Mul", ["mean3", "zero"], ["poison"]))
    constant = person_output(mode != "empty")
    if mode == "bad_layout":
        constant = np.zeros((1, ANCHORS, 3), np.float32)
    if mode == "brightness":  # the person's score is the frame's mean brightness: seen in bright frames only
        constant[0, 4, 0] = 0.0
        unit = np.zeros_like(constant)
        unit[0, 4, 0] = 1.0
        nodes += [_const("unit", unit), helper.make_node("Mul", ["unit", "mean3"], ["score"])]
        nodes += [_const("boxes0", constant), helper.make_node("Add", ["boxes0", "score"], ["boxes"])]
    else:
        nodes.append(_const("boxes", constant))
    nodes.append(helper.make_node("Add", ["boxes", "poison"], ["output0"]))
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", *constant.shape[1:]])],
    )
    onnx.save(helper.make_model(graph, opset_imports=OPSET), path)
    return path


def behavior(
    path: Path, version: str = "behavior-classifier/7", mode: str = "ok", seed: int = 0, padding: int = 0
) -> Path:
    """``padding`` bytes of metadata make the file that much larger (for cut downloads and full disks).

    ``ok``: softmax of a linear map of the mean features; ``unnormalised``: a sigmoid instead (loads, fails
    the smoke test: its probabilities do not sum to one); ``other_features``: another feature configuration;
    ``nan_when_long``: NaN for a batch padded past 60 steps (the smoke test's longest track has 60)."""
    rng = np.random.default_rng(seed)
    nodes = [  # the masked mean of the features over the real steps, then a linear map
        _const("axis1", np.array([1], np.int64)),
        _const("axis2", np.array([2], np.int64)),
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),  # (N, T, 1)
        helper.make_node("Mul", ["features", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),  # (N, 12)
        helper.make_node("ReduceSum", ["mask", "axis1"], ["steps"], keepdims=1),  # (N, 1)
        helper.make_node("Div", ["summed", "steps"], ["pooled"]),
        _const("w", rng.normal(0, 1, (features.N_FEATURES, 6)).astype(np.float32)),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
    ]
    if mode == "nan_when_long":
        nodes += [
            _const("zero", np.array(0.0, np.float32)),
            helper.make_node("Shape", ["features"], ["shape"]),
            helper.make_node("Slice", ["shape", "axis1", "axis2"], ["t_int"]),
            helper.make_node("Cast", ["t_int"], ["t"], to=TensorProto.FLOAT),
            _const("limit", np.array([60.5], np.float32)),
            helper.make_node("Sub", ["limit", "t"], ["room"]),
            helper.make_node("Log", ["room"], ["log"]),
            helper.make_node("Mul", ["log", "zero"], ["poison"]),
            helper.make_node("Add", ["logits", "poison"], ["poisoned"]),
            helper.make_node("Softmax", ["poisoned"], ["probabilities"], axis=1),
        ]
    elif mode == "unnormalised":
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["probabilities"]))
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    config = features.feature_config()
    if mode == "other_features":
        config = {**config, "step_s": 1.0}
    props = {"feature_config": json.dumps(config), "model_version": version}
    if padding:
        props["padding"] = "0" * padding
    return _save_behavior(path, nodes, props)


def _save_behavior(path: Path, nodes: list[onnx.NodeProto], props: dict[str, str]) -> Path:
    """A behaviour model's graph: inputs ``features`` and ``mask``, output ``probabilities``, and its metadata."""
    graph = helper.make_graph(
        nodes,
        "tiny-behaviour",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", "steps", features.N_FEATURES]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "steps"]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 6])],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    helper.set_model_props(model, props)
    onnx.save(model, path)
    return path


def constant_behavior(path: Path, probabilities: dict[str, float], labeller: str | None = None) -> Path:
    """A behaviour model that gives every track the same ``probabilities`` (by label; the rest share what is
    left), with ``labeller`` (JSON of ``edge_agent.behavior.labeller.LabellerConfig``) in its metadata if given."""
    from retail_common.taxonomy import LABELS

    rest = (1.0 - sum(probabilities.values())) / (len(LABELS) - len(probabilities))
    target = np.array([probabilities.get(label, rest) for label in LABELS], np.float32)
    nodes = [  # zero times the masked features, plus log(target): softmax gives the target for any input
        _const("axis1", np.array([1], np.int64)),
        helper.make_node("ReduceSum", ["features", "axis1"], ["summed"], keepdims=0),  # (N, 12)
        _const("w", np.zeros((features.N_FEATURES, 6), np.float32)),
        helper.make_node("MatMul", ["summed", "w"], ["zeros"]),
        _const("bias", np.log(target)),
        helper.make_node("Add", ["zeros", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    props = {"feature_config": json.dumps(features.feature_config()), "model_version": "constant/1"}
    if labeller is not None:
        props["labeller"] = labeller
    return _save_behavior(path, nodes, props)


def blinking_clip(path: Path, bright_s: float = 2.0, dark_s: float = 2.5, fps: float = 10.0) -> Path:
    """A small video that is bright for ``bright_s``, then dark: with the ``brightness`` detector, a person
    who stays ``bright_s`` and leaves, once per loop of the file (a track summary every loop)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 180))
    for i in range(round((bright_s + dark_s) * fps)):
        writer.write(np.full((180, 320, 3), 220 if i < bright_s * fps else 5, np.uint8))
    writer.release()
    return path
