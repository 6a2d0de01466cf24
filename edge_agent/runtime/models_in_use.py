"""The detector and behaviour model the scheduler runs: swapped between batches, guarded while on probation.

A model the updater offers (:class:`edge_agent.updater.swap.SwapBox`) is taken
at the start of a scheduler round, between two detector batches. While it is on
probation the model it replaced stays loaded: an exception or a non-finite
output of the new model puts the previous one back at once and the same frames
(or tracks) are run again on it, so no frame and no summary is lost to the
failure. A detector that finds nobody where the previous found people is only
warned about (:func:`edge_agent.updater.policy.judge`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import supervision as sv

from edge_agent.behavior.classifier import BehaviorClassifier
from edge_agent.detect.base import Detector
from edge_agent.pipeline.camera import CameraPipeline, NonFiniteOutputError
from edge_agent.updater.policy import BEHAVIOR, DETECTOR, RuntimeLimits, Verdict, judge
from edge_agent.updater.swap import OnProbation, SwapBox, SwapEvents
from retail_common.summary import TrackSummary

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ModelsInUse:
    def __init__(
        self,
        detector: Detector[Any, Any],
        classifier: BehaviorClassifier,
        swaps: SwapBox | None = None,
        events: SwapEvents | None = None,
        limits: RuntimeLimits | None = None,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.swaps = swaps
        self.events = events
        self.limits = limits or RuntimeLimits(probation_s=600.0, silent_detector_s=120.0, previous_people_rate=0.2)
        self.on_probation: dict[str, OnProbation] = {}
        self.frames = 0  # frames the current detector saw
        self.frames_with_people = 0
        self.swaps_done = 0
        self.rollbacks = 0

    # --- swaps ----------------------------------------------------------------------------------------

    def apply_swaps(self, pipelines: Mapping[str, CameraPipeline]) -> None:
        """Takes the models the updater offered (called between two batches)."""
        if self.swaps is None:
            return
        for swap in self.swaps.take():
            previous = self._current(swap.kind)
            rate = self.frames_with_people / self.frames if self.frames else 0.0
            self._install(swap.kind, swap.model, pipelines)
            self.on_probation[swap.kind] = OnProbation(swap, previous, previous_people_rate=rate)
            self.swaps_done += 1
            logger.info("%s model %s swapped in (was %s)", swap.kind, swap.model.model_version, previous.model_version)
            if self.events is not None:
                self.events.swapped(swap)  # the manifest names it before the updater goes on
            swap.taken.set()

    def _current(self, kind: str) -> Any:
        return self.detector if kind == DETECTOR else self.classifier

    def _install(self, kind: str, model: Any, pipelines: Mapping[str, CameraPipeline]) -> None:
        if kind == DETECTOR:
            self.detector = model
            self.frames = self.frames_with_people = 0
            for pipeline in pipelines.values():
                pipeline.detector_model = model.model_version
        else:
            self.classifier = model
            for pipeline in pipelines.values():
                pipeline.classifier = model

    def review(self, pipelines: Mapping[str, CameraPipeline], now: float | None = None) -> None:
        """Judges every model on probation: rolls back, confirms (the previous is let go) or warns."""
        now = time.monotonic() if now is None else now
        for kind, record in list(self.on_probation.items()):
            verdict, reason = judge(record.probation(now), self.limits)
            if verdict is Verdict.ROLLBACK:
                self._roll_back(kind, reason, pipelines)
            elif verdict is Verdict.CONFIRM:
                del self.on_probation[kind]
                if self.events is not None:
                    self.events.confirmed(record.swap)
            elif verdict is Verdict.WARN:
                record.warned = True
                logger.warning("%s", reason)
                if self.events is not None:
                    self.events.warned(record.swap, reason)

    def _roll_back(self, kind: str, reason: str, pipelines: Mapping[str, CameraPipeline]) -> None:
        record = self.on_probation.pop(kind)
        self._install(kind, record.previous, pipelines)
        self.rollbacks += 1
        logger.error(
            "%s model %s rolled back to %s: %s",
            kind,
            record.swap.model.model_version,
            record.previous.model_version,
            reason,
        )
        if self.events is not None:
            self.events.rolled_back(record.swap, reason)

    # --- guarded runs ---------------------------------------------------------------------------------

    def _guarded(
        self, kind: str, run: Callable[[], T], finite: Callable[[T], bool], pipelines: Mapping[str, CameraPipeline]
    ) -> T:
        """``run()``; when the model of ``kind`` is on probation and fails, roll back and run it again."""
        record = self.on_probation.get(kind)
        if record is None:
            return run()
        try:
            out = run()
        except NonFiniteOutputError as e:
            record.non_finite += 1
            logger.error("%s model %s on probation: %s", kind, record.swap.model.model_version, e)
        except Exception as e:
            record.errors += 1
            logger.error("%s model %s failed on probation: %s", kind, record.swap.model.model_version, e)
        else:
            record.runs += 1
            if finite(out):
                return out
            record.non_finite += 1
            logger.error("%s model %s on probation returned non-finite values", kind, record.swap.model.model_version)
        self.review(pipelines)
        return run()  # on the previous model now

    def detect(
        self, images: Sequence[np.ndarray], pipelines: Mapping[str, CameraPipeline]
    ) -> tuple[list[sv.Detections], float]:
        """Detections per image (at most the detector's batch) and the seconds spent in inference."""
        timing = [0.0]

        def run() -> tuple[list[sv.Detections], Any]:
            detector = self.detector
            batch = detector.preprocess(images)
            t0 = time.perf_counter()
            raw = detector.infer(batch)
            timing[0] = time.perf_counter() - t0
            return detector.postprocess(raw, batch), raw

        found, _ = self._guarded(DETECTOR, run, _finite_raw, pipelines)
        return found, timing[0]

    def saw(self, people: bool) -> None:
        """Counts a frame the current detector saw, and whether it found anybody."""
        self.frames += 1
        self.frames_with_people += people
        record = self.on_probation.get(DETECTOR)
        if record is not None:
            record.frames += 1
            record.frames_with_people += people

    def summaries(self, pipeline: CameraPipeline, pipelines: Mapping[str, CameraPipeline]) -> list[TrackSummary]:
        """The pipeline's ended tracks, classified (the tracks stay in the pipeline until a model succeeds)."""
        if BEHAVIOR not in self.on_probation:
            return pipeline.take_summaries()
        return self._guarded(BEHAVIOR, lambda: pipeline.take_summaries(require_finite=True), lambda _: True, pipelines)


def _finite_raw(out: tuple[list[sv.Detections], Any]) -> bool:
    """Whether a detector's raw output (an array for ONNX Runtime; HOG has boxes only) holds no NaN or infinity."""
    raw = out[1]
    return not isinstance(raw, np.ndarray) or bool(np.isfinite(raw).all())
