"""The store tab: visitors by zone, dwell per zone, behaviour trend, line flow, occupancy, heatmaps, trajectories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import panel as pn
from sqlalchemy import Connection

from central.api.models import TrackOut
from central.api.queries.columns import UNCLASSIFIED
from central.api.timerange import Bucket
from central.dashboard import charts, data
from central.dashboard.admin import BackgroundUpload
from central.localtime import LocalClock
from retail_common.taxonomy import LABELS

if TYPE_CHECKING:
    from central.dashboard.page import DashboardPage

ALL = "(all)"


@dataclass(frozen=True)
class StoreLoaded:
    store: data.StoreData | None
    tracks: list[TrackOut]
    camera: str | None


class StoreView:
    def __init__(self, page: DashboardPage) -> None:
        self.page = page
        self.bucket = pn.widgets.RadioButtonGroup(name="Visitors per", options=["hour", "day"], value="hour")
        self.camera = pn.widgets.Select(name="Trajectories of camera", options=[], width=200)
        self.behavior = pn.widgets.Select(name="Behaviour", options=[ALL, *LABELS, UNCLASSIFIED], width=160)
        self.zone = pn.widgets.Select(name="Through zone", options=[ALL], width=160)
        self.kpis = pn.pane.Markdown("Choose a store.")
        self.visitors = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.dwell = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.behavior_trend = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.lines = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.occupancy = pn.Column(sizing_mode="stretch_width")
        self.heatmaps = pn.GridBox(ncols=3)
        self.trajectories = pn.pane.Bokeh(sizing_mode="stretch_width")
        self.upload = (
            BackgroundUpload(page.ctx, page.session, lambda: page.store.value, page.schedule_refresh)
            if page.session.is_admin
            else None
        )
        self.layout = pn.Column(
            self.kpis,
            pn.Row(pn.pane.Markdown("Visitors per", margin=(12, 5)), self.bucket),
            self.visitors,
            pn.Row(self.dwell, self.behavior_trend, sizing_mode="stretch_width"),
            pn.Row(self.lines, self.occupancy, sizing_mode="stretch_width"),
            pn.pane.Markdown("### Heatmaps"),
            self.heatmaps,
            *([self.upload.layout] if self.upload is not None else []),
            pn.pane.Markdown("### Recent trajectories"),
            pn.Row(self.camera, self.behavior, self.zone),
            self.trajectories,
            sizing_mode="stretch_width",
            name="store",
        )
        for widget in (self.bucket, self.camera, self.behavior, self.zone):
            widget.param.watch(lambda _e: page.schedule_refresh(), "value")

    def load(self, conn: Connection, now: float) -> StoreLoaded:
        store_id = self.page.store.value
        if not store_id:
            return StoreLoaded(None, [], None)
        ref = data.store_ref(conn, store_id)
        if ref is None:
            return StoreLoaded(None, [], None)
        rng = self.page.time_range(ref.clock)
        settings = self.page.ctx.settings
        bucket = Bucket(self.bucket.value)
        store = data.store_data(conn, ref, rng, bucket, now, settings.gaps, settings.responses.max_points)
        camera = self.camera.value if self.camera.value in store.cameras else next(iter(store.cameras), None)
        tracks = data.trajectories(
            conn,
            store_id,
            rng,
            camera,
            None if self.behavior.value == ALL else self.behavior.value,
            None if self.zone.value in (ALL, None) else self.zone.value,
            self.page.config.max_trajectories,
        )
        return StoreLoaded(store, tracks, camera)

    def draw(self, loaded: StoreLoaded) -> None:
        store = loaded.store
        if store is None:
            self.kpis.object = "Choose a store."
            return
        self.kpis.object = (
            f"### {store.store.name} ({store.store.store_id})\nhours and days in {store.timezone}\n\n"
            + self._kpi_line(store)
        )
        clock = LocalClock(store.timezone)
        self.visitors.object = charts.visitors(store.traffic, clock)
        self.dwell.object = charts.dwell_by_zone(store.dwell)
        self.behavior_trend.object = charts.behavior_trend(store.behavior, clock)
        self.lines.object = charts.line_flow(store.lines, clock)
        occupancy = charts.occupancy(store.lines, store.door_lines, clock)
        self.occupancy.objects = [pn.pane.Bokeh(occupancy, sizing_mode="stretch_width")] if occupancy else []
        self.heatmaps.objects = [pn.pane.Bokeh(charts.heatmap(h)) for h in store.heatmaps]
        if self.upload is not None:
            self.upload.cameras(store.cameras)
        self._set_options(self.camera, store.cameras, loaded.camera)
        zones = [z for cam, z in store.zones if cam == loaded.camera]
        self._set_options(self.zone, [ALL, *zones], self.zone.value if self.zone.value in zones else ALL)
        title = f"{len(loaded.tracks)} most recent trajectories of {loaded.camera or 'no camera'}"
        self.trajectories.object = charts.trajectories(loaded.tracks, title)

    @staticmethod
    def _set_options(widget: Any, options: list[str], value: str | None) -> None:
        if list(widget.options) != options:
            widget.param.update(options=options, value=value)
        elif widget.value != value:
            widget.value = value

    @staticmethod
    def _kpi_line(store: data.StoreData) -> str:
        dwell = [z for z in store.dwell if z.visits]
        busiest = max(dwell, key=lambda z: z.visits) if dwell else None
        parts = [f"**{store.visits:,} visitors** in this store over the range"]
        behavior = {s.behavior: s.count for s in store.behavior.distribution if s.behavior != UNCLASSIFIED}
        if sum(behavior.values()):
            top = max(behavior, key=lambda k: behavior[k])
            parts.append(f"most often **{top}** ({behavior[top] / sum(behavior.values()):.0%})")
        if busiest is not None:
            parts.append(f"busiest zone **{busiest.camera_id} · {busiest.zone_id}** ({busiest.visits:,} visits)")
        if store.missing_hours:
            hours = f"{store.missing_hours} hour{'s' if store.missing_hours != 1 else ''}"
            parts.append(f"**{hours} missing data** (grey bands: a camera or its agent was down)")
        return " · ".join(parts)
