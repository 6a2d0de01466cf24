"""A staged model opened in a new ONNX Runtime session (off the frame path), its contract checked, then
smoke-tested on fixed inputs before it may serve a frame.

Contract: a detector must have the Ultralytics layout the agent's YOLO code reads
(:mod:`edge_agent.detect.yolo_common`); a behaviour model must carry the feature
configuration the agent computes (:func:`edge_agent.behavior.features.feature_config`)
and take ``features`` and ``mask``. Smoke test: on fixed inputs, the right
shapes, finite values, probabilities that sum to one, and a latency within the
configured bound.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.behavior import features, labeller
from edge_agent.behavior.classifier import BehaviorClassifier, BehaviorContractError, BehaviorModelError
from edge_agent.config.models import AgentConfig, OnnxDetectorConfig
from edge_agent.detect import yolo_common
from edge_agent.detect.base import Detector, DetectorError, DetectorLayoutError
from edge_agent.detect.onnx_backend import OnnxDetector
from edge_agent.updater.policy import BEHAVIOR, InstallError
from retail_common.models import ModelRef
from retail_common.rollout import FailureCode
from retail_common.taxonomy import LABELS

SMOKE_FRAME = (720, 1280)  # a 16:9 camera's frame, as most store cameras deliver


def open_model(kind: str, path: Path, ref: ModelRef, config: AgentConfig) -> Any:
    """The model at ``path`` loaded for ``kind`` and named ``ref``; :class:`InstallError` (contract_mismatch
    or load_failed) when it cannot serve this agent."""
    if kind == BEHAVIOR:
        try:
            return BehaviorClassifier(path, threads=config.behavior.threads, version=str(ref))
        except BehaviorContractError as e:
            raise InstallError(FailureCode.CONTRACT_MISMATCH, str(e)) from e
        except BehaviorModelError as e:
            raise InstallError(FailureCode.LOAD_FAILED, str(e)) from e
        except Exception as e:  # the warm-up run inside the constructor: ORT's own untyped errors
            raise InstallError(FailureCode.LOAD_FAILED, f"{path}: first run failed: {e}") from e
    return open_detector(path, ref, config)


def open_detector(path: Path, ref: ModelRef, config: AgentConfig) -> Detector[Any, Any]:
    """An ONNX detector with the configured detector's settings (or the defaults when it is HOG or TensorRT)."""
    base = config.detector
    onnx_config = (
        base.model_copy(update={"model": path})
        if isinstance(base, OnnxDetectorConfig)
        else OnnxDetectorConfig(type="onnx", model=path)
    )
    try:
        detector = OnnxDetector(onnx_config)
    except DetectorLayoutError as e:
        raise InstallError(FailureCode.CONTRACT_MISMATCH, str(e)) from e
    except DetectorError as e:
        raise InstallError(FailureCode.LOAD_FAILED, str(e)) from e
    detector.model_version = str(ref)
    return detector


def smoke_test(kind: str, model: Any, max_ms: float) -> float:
    """Runs ``model`` on fixed inputs; the latency in ms, or :class:`InstallError` (smoke_test_failed)."""
    t0 = time.perf_counter()
    try:
        problem = _behavior_problem(model) if kind == BEHAVIOR else _detector_problem(model)
    except Exception as e:  # whatever the new model raises on good input is its failure, never the agent's
        problem = f"raised {type(e).__name__}: {e}"
    ms = 1000 * (time.perf_counter() - t0)
    if problem is None and ms > max_ms:
        problem = f"took {ms:.0f} ms on the fixed inputs, the bound is {max_ms:.0f} ms"
    if problem is not None:
        raise InstallError(FailureCode.SMOKE_TEST_FAILED, f"{kind} model {model.model_version}: {problem}")
    return ms


def fixed_tracks() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three tracks of different lengths (so the batch is padded and masked): a straight walk, a browse
    with a stop, a loop."""
    t_walk = np.arange(0.0, 20.0, 0.1)
    walk = np.stack([1.2 * t_walk, np.zeros_like(t_walk)], axis=1)
    t_stop = np.arange(0.0, 60.0, 0.1)
    stop = np.stack([np.minimum(t_stop, 20.0) * 0.5, np.full_like(t_stop, 1.0)], axis=1)
    t_loop = np.arange(0.0, 120.0, 0.2)
    loop = np.stack([3 * np.cos(t_loop / 10), 3 * np.sin(t_loop / 10)], axis=1)
    return [(t_walk, walk), (t_stop, stop), (t_loop, loop)]


def _behavior_problem(model: BehaviorClassifier) -> str | None:
    tracks = fixed_tracks()
    probs = model.predict(tracks)
    if probs.shape != (len(tracks), len(LABELS)):
        return f"output shape {probs.shape}, expected {(len(tracks), len(LABELS))}"
    labelled = labeller.label(probs, tracks, model.labeller)  # with its rules combination, as the agent runs it
    if not (np.isfinite(probs).all() and np.isfinite(labelled).all()):
        return "non-finite probabilities"
    if (probs < -1e-4).any() or (probs > 1 + 1e-4).any():
        return f"probabilities outside [0, 1]: {probs.min():.3g} to {probs.max():.3g}"
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        return f"probabilities sum to {', '.join(f'{s:.3f}' for s in sums)}, not 1"
    one = model.predict_features(*features.pad(features.sequences(tracks[:1])))
    if not np.allclose(one[0], probs[0], atol=1e-3):
        return "a track's probabilities change with the other tracks of its batch"
    return None


def _detector_problem(detector: Detector[Any, Any]) -> str | None:
    h, w = SMOKE_FRAME
    grey = np.full((h, w, 3), yolo_common.PAD_VALUE, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    frames = [grey, noise][: detector.max_batch] if detector.max_batch > 1 else [grey]
    batch = detector.preprocess(frames)
    raw = np.asarray(detector.infer(batch))
    try:
        yolo_common.check_output_layout(raw.shape, "output")
    except ValueError as e:
        return str(e)
    if raw.shape[0] < len(frames):
        return f"output batch {raw.shape[0]} for {len(frames)} frames"
    if not np.isfinite(raw).all():
        return "non-finite outputs"
    found = detector.postprocess(raw, batch)
    if len(found) != len(frames):
        return f"{len(found)} results for {len(frames)} frames"
    return None
