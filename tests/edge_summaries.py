"""Track summaries as an agent records them, for the sync and service tests."""

from __future__ import annotations

import uuid

from grpc_fixtures import HOUR_START

from retail_common.summary import TrackSummary


def edge_summary(start: float = HOUR_START + 100, behavior: str = "interested", zone: str = "table") -> TrackSummary:
    """A 42 s visit with a stop in ``zone``; an unknown ``behavior`` gets no probabilities (central refuses it)."""
    return TrackSummary(
        track_id=str(uuid.uuid4()),
        store_id="s1",
        camera_id="cam1",
        start_time=start,
        end_time=start + 42.0,
        path=((0.0, 1.0, 2.0), (20.0, 2.0, 2.5), (42.0, 4.0, 3.0)),
        distance_m=3.4,
        mean_speed_mps=0.3,
        max_speed_mps=0.9,
        stop_count=1,
        zone_dwell={zone: 12.5},
        zone_visits={zone: 1},
        zone_order=(zone,),
        detector_model="yolov8n/1",
        behavior=behavior,
        behavior_probabilities={behavior: 1.0} if behavior != "angry" else {},
        behavior_model="behavior-classifier/2",
    )


def edge_summaries(n: int) -> list[TrackSummary]:
    """``n`` visits a second apart, five hours ago."""
    return [edge_summary(start=HOUR_START + i) for i in range(n)]
