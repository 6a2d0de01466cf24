"""One open dashboard page: the store and range pickers every view follows, three tabs, and live refresh.

Live updates: every ``dashboard.refresh_s`` the page compares the live feed's count
of summaries stored for what it shows (its store on the store tab, every store on
the others; in memory, no database read) with the count it last drew; only when it
moved, or every ``FULL_REFRESH_EVERY`` checks (data that reached another replica,
heartbeats), does it read the rollups again, in a worker thread, and redraw. An idle
page therefore costs one dictionary lookup per period, and a busy store one set of
rollup reads per period per page.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import panel as pn

from central.api.deps import ApiContext
from central.api.sessions import DashboardSession
from central.api.timerange import TimeRange
from central.config import DashboardConfig
from central.dashboard import data
from central.dashboard.fleet_view import FleetView
from central.dashboard.overview_view import OverviewView
from central.dashboard.store_view import StoreView
from central.localtime import LocalClock

logger = logging.getLogger(__name__)

FULL_REFRESH_EVERY = 12
DEFAULT_DAYS = 7
PRESETS = {"today": 1, "7 days": 7, "30 days": 30, "90 days": 90}
TAB_STORE = 1  # the tabs: chain overview, store, fleet

HEADER_STYLE = {"background": "#1f3b5a", "border-radius": "4px", "padding": "0 12px"}


def _utc_day(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()


class DashboardPage:
    """The widgets and views of one browser tab; built once per session by the Panel application."""

    def __init__(
        self, ctx: ApiContext, session: DashboardSession, config: DashboardConfig, args: dict[str, Any] | None = None
    ) -> None:
        self.ctx = ctx
        self.session = session
        self.config = config
        with ctx.engine.connect() as conn:
            choices = data.store_choices(conn)
        self._zones = {c.store_id: c.timezone for c in choices}
        options = {f"{c.name} ({c.store_id})": c.store_id for c in choices}
        asked = _arg(args or {}, "store")
        self.store = pn.widgets.Select(
            name="Store", options=options, value=asked if asked in options.values() else None, width=260
        )
        if self.store.value is None and options:
            self.store.value = next(iter(options.values()))
        today = self.today()
        self.dates = pn.widgets.DateRangePicker(
            name="Dates (inclusive)", value=(today - timedelta(days=DEFAULT_DAYS - 1), today), width=240
        )
        self.presets = pn.Row(*(self._preset_button(label, days) for label, days in PRESETS.items()), margin=(18, 0))
        self.status = pn.pane.Markdown("", margin=(18, 10, 0, 10), styles={"color": "#555"})
        self.overview = OverviewView(self)
        self.store_view = StoreView(self)
        self.fleet = FleetView(self)
        self.tabs = pn.Tabs(
            ("Chain overview", self.overview.layout),
            ("Store", self.store_view.layout),
            ("Fleet", self.fleet.layout),
            dynamic=False,
            sizing_mode="stretch_width",
        )
        logout = pn.pane.HTML(
            '<form method="post" action="/logout" style="margin:0">'
            f"<span>{_escape(session.name)} ({session.role.value})</span> "
            '<button type="submit" name="logout">Log out</button></form>',
            margin=(14, 10),
            stylesheets=["span { color: white; margin-right: 8px; }"],
        )
        header = pn.Row(
            pn.pane.Markdown("## Retail analytics", margin=(0, 20, 0, 0), styles={"color": "white"}),
            pn.layout.HSpacer(),
            logout,
            styles=HEADER_STYLE,
            sizing_mode="stretch_width",
        )
        controls = pn.Row(self.store, self.dates, self.presets, self.status, sizing_mode="stretch_width")
        self.layout = pn.Column(header, controls, self.tabs, sizing_mode="stretch_width")
        self._drawn_count = -1
        self._ticks = 0
        self._busy = False
        self._again = False
        self.store.param.watch(lambda _e: self.schedule_refresh(), "value")
        self.dates.param.watch(lambda _e: self.schedule_refresh(), "value")
        self.tabs.param.watch(lambda _e: self.schedule_refresh(), "active")
        pn.state.onload(self._first_draw)

    # --- range and store -------------------------------------------------------------------------

    def today(self) -> date:
        """Today in the chosen store's time zone: the day its manager means by "today"."""
        zone = self._zones.get(self.store.value or "", "UTC")
        return datetime.now(timezone.utc).astimezone(LocalClock(zone).tz).date()

    def time_range(self, clock: LocalClock | None = None) -> TimeRange:
        """The picked days: a store's local days on its page; UTC days on the chain overview."""
        start, end = self.dates.value or (date.today(), date.today())
        if clock is None:
            return TimeRange(_utc_day(start), _utc_day(end) + 86_400)
        return TimeRange(clock.day_start(start), clock.day_start(end + timedelta(days=1)))

    def _preset_button(self, label: str, days: int) -> pn.widgets.Button:
        button = pn.widgets.Button(name=label, button_type="light", width=70, margin=(5, 2))

        def choose(_event: Any) -> None:
            today = self.today()
            self.dates.value = (today - timedelta(days=days - 1), today)

        button.on_click(choose)
        return button

    def open_store(self, store_id: str) -> None:
        """What a click on a store in the overview does: pick it and show its page."""
        self.store.value = store_id
        self.tabs.active = TAB_STORE

    # --- refresh ---------------------------------------------------------------------------------

    def _first_draw(self) -> None:
        self.schedule_refresh()
        pn.state.add_periodic_callback(self._tick, period=int(self.config.refresh_s * 1000))  # type: ignore[arg-type]

    def schedule_refresh(self) -> None:
        pn.state.execute(self.refresh)

    async def _tick(self) -> None:
        self._ticks += 1
        count = self._stored_count()
        if count != self._drawn_count or self._ticks % FULL_REFRESH_EVERY == 0:
            await self.refresh()

    def _stored_count(self) -> int:
        """Summaries stored through this process for what the visible tab shows: every store on the overview."""
        if self.tabs.active != TAB_STORE:
            return self.ctx.feed.published_total()
        return self.ctx.feed.published(self.store.value) if self.store.value else 0

    async def refresh(self) -> None:
        """Read what the visible tab shows (in a worker thread) and redraw it."""
        if self._busy:  # a choice made while a read runs is drawn right after it, never dropped
            self._again = True
            return
        self._busy = True
        self._again = False
        started = time.perf_counter()
        try:
            self._drawn_count = self._stored_count()
            view = (self.overview, self.store_view, self.fleet)[self.tabs.active]
            loaded = await asyncio.to_thread(self._load, view)
            view.draw(loaded)
            self.status.object = (
                f"updated {datetime.now(timezone.utc).strftime('%H:%M:%S')} UTC "
                f"({(time.perf_counter() - started) * 1000:.0f} ms)"
            )
        except Exception as e:  # a failed read shows on the page; the next tick tries again
            logger.exception("dashboard refresh failed")
            self.status.object = f"**could not load the data:** {_escape(str(e))[:200]}"
        finally:
            self._busy = False
        if self._again:
            await self.refresh()

    def _load(self, view: Any) -> Any:
        with self.ctx.engine.connect() as conn:
            return view.load(conn, time.time())


def _arg(args: dict[str, Any], name: str) -> str | None:
    """A query argument of the page's address (``/dashboard?store=s1``), so that a view can be linked to."""
    values = args.get(name) or []
    return values[0].decode("utf-8", "replace")[:64] if values else None


def _escape(text: str) -> str:
    return html.escape(text)
