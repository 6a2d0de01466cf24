"""The dashboard's charts as Bokeh figures, built from the REST API's response models.

Bokeh directly rather than HoloViews/hvPlot: each chart is one small figure over
one ``ColumnDataSource``, a session holds no pandas frames or HoloViews element
trees, and the process imports neither (see the closing note of issue 13 for the
memory per open page). Hours where data is missing (a camera disconnected, an
agent silent) are drawn as grey bands with no line through them, never as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearColorMapper, Range1d
from bokeh.models import Image as ImageGlyph
from bokeh.models.annotations import Legend, LegendItem, Title
from bokeh.models.widgets.tables import NumberFormatter
from bokeh.palettes import Category10_10, Category20_20
from bokeh.plotting import figure

from central.api.models import BehaviorOut, LinesOut, TrackOut, TrafficOut
from central.api.queries.columns import UNCLASSIFIED
from central.dashboard.data import CameraHeatmap, ZoneDwell
from central.localtime import LocalClock
from retail_common.taxonomy import LABELS

BEHAVIOR_COLORS = dict(
    zip(
        (*LABELS, UNCLASSIFIED),
        ("#2b8a3e", "#868e96", "#f08c00", "#1971c2", "#9c36b5", "#e03131", "#ced4da"),
        strict=True,
    )
)
GAP_COLOR = "#adb5bd"
BACKGROUND_RENDERER = "camera-background"
GAP_RENDERER = "missing-data"  # the name of every chart's grey bands, for tests and scripts that read the page
HEIGHT = 280
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def _ms(ts: Sequence[float], clock: LocalClock) -> list[float]:
    """Bokeh's datetime axes show UTC: each instant is moved by the store's offset so the axis reads local time."""
    return [(t + clock.offset(t)) * 1000.0 for t in ts]


def _base(title: str, x_datetime: bool = True, height: int = HEIGHT, **kw: Any) -> figure:
    fig = figure(
        title=title,
        height=height,
        sizing_mode="stretch_width",
        x_axis_type="datetime" if x_datetime else "linear",
        tools=TOOLS,
        toolbar_location="right",
        **kw,
    )
    _title(fig).text_font_size = "13px"
    fig.xgrid.grid_line_alpha = 0.3
    fig.ygrid.grid_line_alpha = 0.3
    return fig


def _title(fig: figure) -> Title:
    title = fig.title
    if not isinstance(title, Title):
        title = Title(text=str(title or ""))
        fig.title = title
    return title


def _empty_note(fig: figure, text: str) -> None:
    title = _title(fig)
    title.text = f"{title.text}: {text}"


def _gap_bands(fig: figure, missing_ms: list[float], width_ms: float) -> None:
    """Grey bands over buckets whose data is missing, so an empty hour never reads as a quiet one."""
    if not missing_ms:
        return
    fig.extra_y_ranges = {"gaps": Range1d(start=0, end=1)}
    source = ColumnDataSource({"x": [m + width_ms / 2 for m in missing_ms]})
    fig.vbar(
        x="x",
        width=width_ms,
        top=1,
        bottom=0,
        source=source,
        color=GAP_COLOR,
        alpha=0.35,
        legend_label="no data",
        y_range_name="gaps",
        name=GAP_RENDERER,
    )


def _missing(points: Sequence[Any]) -> list[int]:
    return [p.ts for p in points if p.missing]


def visitors(traffic: TrafficOut, clock: LocalClock) -> figure:
    """Visits per bucket, one line per zone; missing buckets break the lines and show as grey bands."""
    bucket_s = 3600 if traffic.bucket.value == "hour" else 86_400
    fig = _base(f"Visitors per {traffic.bucket.value} by zone")
    fig.yaxis.axis_label = "visits"
    palette = Category20_20 if len(traffic.series) > 10 else Category10_10
    missing = sorted({ts for series in traffic.series for ts in _missing(series.points)})
    _gap_bands(fig, _ms(missing, clock), bucket_s * 1000.0)
    for i, series in enumerate(traffic.series):
        label = f"{series.camera_id} · {series.zone_id}" if series.zone_id else (series.camera_id or "all")
        ys = [float("nan") if p.visits is None else float(p.visits) for p in series.points]
        source = ColumnDataSource({"x": _ms([p.ts + bucket_s / 2 for p in series.points], clock), "y": ys})
        fig.line("x", "y", source=source, color=palette[i % len(palette)], line_width=2, legend_label=label)
    if not traffic.series:
        _empty_note(fig, "no zones with visits in this range")
    fig.add_tools(HoverTool(tooltips=[("time", "@x{%F %H:%M}"), ("visits", "@y")], formatters={"@x": "datetime"}))
    if fig.legend:  # none when the store has no zones with visits and no gaps
        fig.legend.click_policy = "hide"
        fig.legend.label_text_font_size = "10px"
        fig.add_layout(fig.legend[0], "right")
    return fig


def dwell_by_zone(zones: list[ZoneDwell]) -> figure:
    """Each zone's visitors split by how long they spent in it, as shares (stacked to 100 %).

    A track counts once per zone it entered (its total seconds there pick the bin), however often it
    re-entered: the denominator is the bins' sum, not the zone's visits, which count each entry.
    """
    labels = [f"{z.camera_id} · {z.zone_id}" for z in zones] or ["(no zone visits)"]
    bins = [b.bin for b in zones[0].bins] if zones else []
    data: dict[str, Any] = {"zone": labels}
    for i, name in enumerate(bins):
        data[name] = [
            z.bins[i].visits / total * 100.0 if (total := sum(b.visits for b in z.bins)) else 0.0 for z in zones
        ]
    fig = figure(
        title="Time spent per zone (share of the zone's visitors)",
        y_range=FactorRange(factors=list(reversed(labels))),
        x_range=Range1d(start=0, end=100),
        height=max(HEIGHT, 26 * len(labels) + 80),
        sizing_mode="stretch_width",
        tools="save",
        toolbar_location=None,
    )
    _title(fig).text_font_size = "13px"
    if bins:
        colors = ("#d0ebff", "#74c0fc", "#339af0", "#1c7ed6", "#1864ab")[: len(bins)]
        renderers = fig.hbar_stack(bins, y="zone", height=0.7, color=colors, source=ColumnDataSource(data))
        items = [
            LegendItem(label=b.replace("_", " "), renderers=[cast(Any, r)])
            for b, r in zip(bins, renderers, strict=True)
        ]
        fig.add_layout(Legend(items=items), "right")
    fig.xaxis.axis_label = "% of the zone's visitors"
    return fig


def behavior_trend(behavior: BehaviorOut, clock: LocalClock) -> figure:
    """Behaviour labels per day, stacked."""
    fig = _base("Behaviour per day")
    labels = [label for label in (*LABELS, UNCLASSIFIED) if any((p.counts or {}).get(label) for p in behavior.trend)]
    data: dict[str, Any] = {"x": _ms([p.ts + 43_200 for p in behavior.trend], clock)}
    for label in labels:
        data[label] = [float((p.counts or {}).get(label, 0)) for p in behavior.trend]
    _gap_bands(fig, _ms(_missing(behavior.trend), clock), 86_400_000.0)
    if labels:
        fig.vbar_stack(
            labels,
            x="x",
            width=86_400_000 * 0.8,
            color=[BEHAVIOR_COLORS[label] for label in labels],
            source=ColumnDataSource(data),
            legend_label=labels,
        )
        fig.add_layout(fig.legend[0], "right")
    else:
        _empty_note(fig, "no classified visits in this range")
    fig.yaxis.axis_label = "visitors"
    return fig


def line_flow(lines: LinesOut, clock: LocalClock) -> figure:
    """People in (up) and out (down) per hour, over all counting lines of the store."""
    fig = _base("Line crossings per hour (in up, out down)")
    totals: dict[int, list[int]] = {}
    missing: set[int] = set()
    for series in lines.lines:
        missing.update(_missing(series.points))
        for p in series.points:
            t = totals.setdefault(p.ts, [0, 0])
            t[0] += p.in_count or 0
            t[1] += p.out_count or 0
    _gap_bands(fig, _ms(sorted(missing), clock), 3_600_000.0)
    xs = sorted(totals)
    source = ColumnDataSource(
        {"x": _ms([x + 1800 for x in xs], clock), "in": [totals[x][0] for x in xs], "out": [-totals[x][1] for x in xs]}
    )
    fig.vbar(x="x", top="in", width=3_600_000 * 0.8, source=source, color="#2f9e44", legend_label="in")
    fig.vbar(x="x", top="out", width=3_600_000 * 0.8, source=source, color="#e8590c", legend_label="out")
    if not lines.lines:
        _empty_note(fig, "this store has no counting lines")
    return fig


def occupancy(lines: LinesOut, door_lines: list[str], clock: LocalClock) -> figure | None:
    """People inside through the day: door-line ins minus outs, summed from each local midnight, never below
    zero. A missing hour leaves the rest of its day unknown (a gap), since nobody knows who came in then."""
    doors = [s for s in lines.lines if s.line_id in door_lines]
    if not doors:
        return None
    net: dict[int, int | None] = {}
    for series in doors:
        for p in series.points:
            known = net.get(p.ts, 0)
            net[p.ts] = (
                None
                if known is None or p.in_count is None or p.out_count is None
                else (known + p.in_count - p.out_count)
            )
    xs: list[float] = []
    ys: list[float] = []
    inside: int | None = 0
    day: int | None = None
    for ts in sorted(net):
        if clock.day_of(ts) != day:
            inside, day = 0, clock.day_of(ts)
        change = net[ts]
        inside = None if inside is None or change is None else max(0, inside + change)
        xs.extend(_ms([ts + 3600], clock))
        ys.append(float("nan") if inside is None else float(inside))
    fig = _base(f"Occupancy (doors: {', '.join(door_lines)})")
    fig.step(xs, ys, mode="before", line_width=2, color="#1971c2")
    _gap_bands(fig, _ms([ts for ts in sorted(net) if net[ts] is None], clock), 3_600_000.0)
    fig.yaxis.axis_label = "people inside"
    return fig


def heatmap(camera: CameraHeatmap) -> figure:
    """A camera's person-seconds per cell over its uploaded background picture (a plain grid without one)."""
    background = camera.background
    hover = HoverTool(tooltips=[("person-seconds", "@image{0.0}")])
    fig = figure(
        title=f"{camera.camera_id}: where people spent time ({camera.days} day{'s' if camera.days != 1 else ''})",
        height=300,
        width=420,
        tools=[hover, "save"],
        toolbar_location=None,
        match_aspect=True,
    )
    _title(fig).text_font_size = "13px"
    fig.axis.visible = False
    fig.grid.visible = False
    cells = camera.cells if camera.cells is not None and camera.cells.size else None
    # the grid spans the camera's frame; its picture, where there is one, is of the same view
    shape = background.shape if background is not None else (cells.shape if cells is not None else (9, 16))
    width, height = 16.0, 16.0 * shape[0] / shape[1]
    fig.x_range = Range1d(start=0, end=width)
    fig.y_range = Range1d(start=0, end=height)
    if background is not None:
        fig.image_rgba(image=[cast(Any, background[::-1])], x=0, y=0, dw=width, dh=height, name=BACKGROUND_RENDERER)
    else:
        fig.grid.visible = True
    if cells is None:
        _empty_note(fig, "no heatmap yet")
        return fig
    values = cells.astype(np.float64)
    peak = float(values.max()) or 1.0
    # cells with under 5 % of the peak stay clear, so the picture shows where nobody lingered
    shown = np.where(values >= 0.05 * peak, values, np.nan)[::-1]  # Bokeh's rows grow upwards, a frame's down
    mapper = LinearColorMapper(palette="Inferno256", low=0, high=peak, nan_color=(0, 0, 0, 0))
    alpha = 0.55 if background is not None else 0.8
    glyph = ImageGlyph(image="image", x=0, y=0, dw=width, dh=height, color_mapper=mapper, global_alpha=alpha)
    fig.add_glyph(ColumnDataSource({"image": [shown]}), glyph)
    return fig


def trajectories(tracks: list[TrackOut], title: str) -> figure:
    """Recent paths on the floor in metres, coloured by behaviour label."""
    fig = _base(title, x_datetime=False, height=380, match_aspect=True)
    fig.xaxis.axis_label = "x (m)"
    fig.yaxis.axis_label = "y (m)"
    by_label: dict[str, dict[str, Any]] = {}
    for t in tracks:
        if len(t.path) < 2:
            continue
        label = t.behavior or UNCLASSIFIED
        d = by_label.setdefault(label, {"xs": [], "ys": [], "track": [], "dwell": []})
        d["xs"].append([p[1] for p in t.path])
        d["ys"].append([p[2] for p in t.path])
        d["track"].append(t.track_id[:8])
        d["dwell"].append(round(t.dwell_s, 1))
    for label in (*LABELS, UNCLASSIFIED):
        if label in by_label:
            fig.multi_line(
                "xs",
                "ys",
                source=ColumnDataSource(by_label[label]),
                color=BEHAVIOR_COLORS[label],
                line_width=1.5,
                alpha=0.7,
                legend_label=f"{label} ({len(by_label[label]['xs'])})",
            )
    if by_label:
        fig.add_tools(HoverTool(tooltips=[("track", "@track"), ("dwell s", "@dwell")]))
        fig.legend.click_policy = "hide"
        fig.add_layout(fig.legend[0], "right")
    else:
        _empty_note(fig, "no trajectories for this choice")
    return fig


def seconds_cell() -> NumberFormatter:
    """A table cell of seconds to a tenth, "-" where there is nothing to average (never "NaN")."""
    return NumberFormatter(format="0.0", nan_format="-", null_format="-")
