"""ByteTrack from Roboflow's ``trackers`` package (the successor of ``supervision.ByteTrack``).

It is fed stream timestamps rather than a fixed frame step, so dropped frames or
an adaptive frame rate do not shorten how long a lost track survives.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from edge_agent.config.models import TrackerConfig


class PersonTracker:
    def __init__(self, config: TrackerConfig, fps: float) -> None:
        self._tracker = ByteTrackTracker(
            # the package counts the buffer in 30 fps frames whatever the stream's rate
            lost_track_buffer=max(1, round(config.lost_track_seconds * 30)),
            frame_rate=fps,
            track_activation_threshold=config.track_activation_threshold,
            minimum_consecutive_frames=config.minimum_consecutive_frames,
            minimum_iou_threshold=config.minimum_iou_threshold,
            high_conf_det_threshold=config.high_conf_det_threshold,
        )

    def update(self, detections: sv.Detections, timestamp: float) -> sv.Detections:
        """Detections of confirmed tracks only, each with its ``tracker_id``."""
        tracked = self._tracker.update(detections, timestamp=timestamp)
        if tracked.tracker_id is None or not len(tracked):
            empty = sv.Detections.empty()
            empty.tracker_id = np.zeros(0, dtype=int)
            return empty
        return cast(sv.Detections, tracked[tracked.tracker_id >= 0])
