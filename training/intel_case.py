"""The fixed real test case: the six visitors of Intel's sample clip, tracked by a real person detector.

Intel's ``one-by-one-person-detection.mp4`` (CC BY 4.0) shows six people, one at
a time, walking in about a metre, standing at a table and walking out. Watched at
0.1 s steps, they stand at the table 11.1, 19.4, 16.7, 9.1, 24.3 and 9.0 s: the
three long stays are ``interested`` (15 s or more lingering at one display,
most of the visit) and the three short ones ``decisive`` (one stop of 2 to 15 s),
which is what BEHAVIORS.md says and what a person watching sees. No stop-and-go
happens in the clip.

The tracks are the edge's own: ``retail-edge analyze`` with the demo
configuration and its detector swapped for the real YOLOv8s person model
(``../shared/models/person-yolov8s-real.onnx``, classes 0 and 1, both people),
read back from the agent's store as the summaries it would send (paths of at
most 64 points in floor metres). Neither file is part of the project, so this
case is built where they exist and skipped, saying so, where they do not.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.cli import demo_config
from edge_agent.config.models import AgentConfig, OnnxDetectorConfig
from edge_agent.pipeline.analyze import analyze_video
from edge_agent.store.sqlite_store import EdgeStore
from retail_common.summary import TrackSummary
from training.simulate import LabelledTrack

CLIP = Path("data", "intel-sample-videos", "one-by-one-person-detection.mp4")
DETECTOR = Path("models", "person-yolov8s-real.onnx")
START = 1_763_629_200.0  # 2025-11-20 09:00 UTC: any fixed time; only durations matter
#: the visits in the clip's order: seconds at the table, as watched, and their label
VISITS = (
    (11.1, "decisive"),
    (19.4, "interested"),
    (16.7, "interested"),
    (9.1, "decisive"),
    (24.3, "interested"),
    (9.0, "decisive"),
)


class RealCaseMissingError(FileNotFoundError):
    """The clip or the detector of the real case is not on this machine."""


@dataclass(frozen=True)
class RealCase:
    tracks: list[LabelledTrack]  # the six visits in the clip's order, labelled as a person sees them
    summaries: list[TrackSummary]  # as the edge stored them, with the packaged labeller's answers


def real_detector_config(detector: Path) -> AgentConfig:
    """The demo configuration with the real person detector in place of HOG."""
    config = demo_config()
    onnx = OnnxDetectorConfig(type="onnx", model=detector, classes=[0, 1])
    return config.model_copy(update={"detector": onnx})


def build(shared: Path) -> RealCase:
    """Analyze the clip under ``shared`` with the real detector; :class:`RealCaseMissingError` without them."""
    clip, detector = shared / CLIP, shared / DETECTOR
    missing = [str(p) for p in (clip, detector) if not p.is_file()]
    if missing:
        raise RealCaseMissingError(f"the real test case needs {' and '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="intel-case-") as tmp:
        analyze_video(clip, real_detector_config(detector), Path(tmp), start_time=START, progress=False)
        store = EdgeStore(Path(tmp) / "store.db")
        try:
            summaries = sorted(store.summaries(), key=lambda s: s.start_time)
        finally:
            store.close()
    if len(summaries) != len(VISITS):
        raise ValueError(f"expected the clip's {len(VISITS)} visitors, the edge found {len(summaries)} tracks")
    tracks = [
        LabelledTrack(f"intel-visit-{i + 1}", label, np.asarray(s.path, dtype=np.float64))
        for i, (s, (_, label)) in enumerate(zip(summaries, VISITS, strict=True))
    ]
    return RealCase(tracks, summaries)
