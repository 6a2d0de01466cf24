"""A freshly swapped model that fails at run time is rolled back by the agent itself, with no frame or track lost;
a detector that finds nobody where the previous one found people is only warned about.

The models pass the smoke test and fail only on what a store gives them later: a behaviour model that returns
NaN for tracks longer than the smoke test's, a detector that returns NaN for dark frames.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import model_files
import numpy as np
import supervision as sv
from model_server import model_server
from test_install import agent_config, agent_side, final_report

from edge_agent.config.models import CameraConfig
from edge_agent.pipeline.camera import CameraPipeline
from edge_agent.updater.manifest import Manifest
from edge_agent.updater.policy import DETECTOR, InstallState, RuntimeLimits
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL, FailureCode

DARK = np.full((360, 640, 3), 3, np.uint8)
BRIGHT = np.full((360, 640, 3), 200, np.uint8)


def walk(pipeline: CameraPipeline, seconds: float, start: float = 0.0, fps: float = 2.0) -> float:
    """One person walking across the view for ``seconds``, then gone long enough for the track to end; returns
    the time after it."""
    n = int(seconds * fps)
    for i in range(n):
        x = 50 + 500 * i / n
        box = sv.Detections(xyxy=np.array([[x, 50, x + 60, 330]], np.float32), confidence=np.array([0.9], np.float32))
        pipeline.process(start + i / fps, box)
    for j in range(12):
        pipeline.process(start + (n + j) / fps, sv.Detections.empty())
    return start + (n + 12) / fps


def test_a_behaviour_model_failing_on_long_tracks_is_rolled_back_and_the_track_kept(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        good = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx"))
        bad = server.publish(BEHAVIOR_MODEL, "8", model_files.behavior(tmp_path / "v8.onnx", mode="nan_when_long"))
        with agent_side(config) as (updater, models):
            updater.handle(good)
            camera = CameraConfig(id="cam1", source="unused.mp4")
            pipeline = CameraPipeline(config, camera, 640, 360, 2.0, "d/1", classifier=models.classifier)
            pipelines = {"cam1": pipeline}
            updater.handle(bad)  # passes the smoke test (60 steps at most)
            assert models.classifier.model_version == "behavior-classifier/8"
            pipeline.classifier = models.classifier  # the scheduler's swap sets it on every pipeline it has
            after = walk(pipeline, 140.0)  # 70 steps of 2 s: NaN from the new model
            (summary,) = models.summaries(pipeline, pipelines)
            assert summary.behavior_model == "behavior-classifier/7"  # classified again by the previous model
            assert np.isfinite(list(summary.behavior_probabilities.values())).all()
            assert models.classifier.model_version == "behavior-classifier/7"
            assert pipeline.classifier is models.classifier
            state, code, message = final_report(updater, BEHAVIOR_MODEL)
            assert (state, code) == (InstallState.ROLLED_BACK, FailureCode.RUNTIME_FAILURE)
            assert "non-finite" in message
            walk(pipeline, 140.0, start=after)  # and it stays on the previous one
            assert [s.behavior_model for s in models.summaries(pipeline, pipelines)] == ["behavior-classifier/7"]
            updater.handle(bad)  # the same artifact in the same rollout is not installed again
            assert models.classifier.model_version == "behavior-classifier/7"
    manifest = Manifest(config.models_dir)
    manifest.load()
    assert manifest.active["behavior"].version == "7"  # a restart starts on the model that worked


def test_a_detector_giving_nan_on_dark_frames_is_rolled_back_and_the_batch_detected_again(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        first = server.publish(DETECTOR_MODEL, "1", model_files.detector(tmp_path / "d1.onnx"))
        bad = server.publish(DETECTOR_MODEL, "2", model_files.detector(tmp_path / "d2.onnx", mode="nan_when_dark"))
        with agent_side(config) as (updater, models):
            updater.handle(first)
            for _ in range(5):
                found, _ = models.detect([BRIGHT], {})
                models.saw(bool(len(found[0])))
            updater.handle(bad)
            assert models.detector.model_version == "person-detector/2"
            models.detect([BRIGHT], {})  # fine on bright frames
            found, _ = models.detect([DARK, DARK], {})
            assert [len(f) for f in found] == [1, 1]  # the previous detector's answer for the same frames
            assert models.detector.model_version == "person-detector/1"
            state, code, _ = final_report(updater, DETECTOR_MODEL)
            assert (state, code) == (InstallState.ROLLED_BACK, FailureCode.RUNTIME_FAILURE)
            assert models.rollbacks == 1


def test_a_detector_that_finds_nobody_is_warned_about_not_rolled_back(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        first = server.publish(DETECTOR_MODEL, "1", model_files.detector(tmp_path / "d1.onnx"))
        blind = server.publish(DETECTOR_MODEL, "2", model_files.detector(tmp_path / "d2.onnx", mode="empty"))
        with agent_side(config) as (updater, models):
            models.limits = RuntimeLimits(probation_s=600, silent_detector_s=0.5, previous_people_rate=0.5)
            updater.handle(first)
            for _ in range(10):
                found, _ = models.detect([BRIGHT], {})
                models.saw(bool(len(found[0])))
            updater.handle(blind)
            record = models.on_probation[DETECTOR]
            replaced = weakref.ref(record.previous)
            for _ in range(10):
                found, _ = models.detect([BRIGHT], {})
                models.saw(bool(len(found[0])))
            models.review({}, now=record.since + 1.0)
            assert models.detector.model_version == "person-detector/2"  # kept
            assert "found nobody in 10 frames" in updater.warnings[DETECTOR]
            state, code, message = final_report(updater, DETECTOR_MODEL)
            assert (state, code) == (InstallState.ACTIVE, None)
            assert message.startswith("warning: ")
            models.review({}, now=record.since + 601.0)  # probation over: confirmed, the previous one let go
            assert DETECTOR not in models.on_probation
            assert models.detector.model_version == "person-detector/2"
            del record
            gc.collect()
            assert replaced() is None, "the replaced detector's session is released once the new one is confirmed"
