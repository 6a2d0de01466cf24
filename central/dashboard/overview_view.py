"""The chain overview tab: every store's visitors, change, dwell, behaviour mix, agent status and data gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
from sqlalchemy import Connection

from central.api.chain_models import ChainOverviewOut, StoreSummary
from central.api.queries.columns import UNCLASSIFIED
from central.dashboard import charts, data
from central.dashboard.fleet_view import ago

if TYPE_CHECKING:
    from central.dashboard.page import DashboardPage

COLUMNS = [
    "store_id",
    "store",
    "visitors today",
    "visitors",
    "previous period",
    "change",
    "mean dwell s",
    "top behaviour",
    "agent",
    "last seen",
    "backlog",
    "cameras up",
    "gaps",
]


def _top_behavior(store: StoreSummary) -> str:
    classified = [s for s in store.behavior if s.behavior != UNCLASSIFIED and s.count]
    if not classified:
        return ""
    top = max(classified, key=lambda s: s.count)
    return f"{top.behavior} {top.count / sum(s.count for s in classified):.0%}"


def _agent(store: StoreSummary, now: float) -> tuple[str, str]:
    status = store.status
    if not status.agents:
        return "no agent", "never"
    seen = "never" if status.last_seen is None else ago(now - status.last_seen)
    return ("online" if status.online else "offline"), seen


def overview_frame(stores: list[StoreSummary], now: float) -> pd.DataFrame:
    rows = []
    for r in stores:
        agent, seen = _agent(r, now)
        rows.append(
            {
                "store_id": r.store_id,
                "store": r.name,
                "visitors today": r.today.visits,
                "visitors": r.period.visits,
                "previous period": r.previous.visits,
                "change": f"{r.change * 100.0:+.1f} %" if r.change is not None else "new" if r.period.visits else "",
                "mean dwell s": round(r.period.mean_dwell_s, 1) if r.period.mean_dwell_s is not None else None,
                "top behaviour": _top_behavior(r),
                "agent": agent,
                "last seen": seen,
                "backlog": r.status.backlog,
                "cameras up": f"{r.status.cameras_connected} of {r.status.cameras_total}",
                "gaps": "data missing" if r.has_gaps else "",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


class OverviewView:
    def __init__(self, page: DashboardPage) -> None:
        self.page = page
        self.summary = pn.pane.Markdown("")
        self.table = pn.widgets.Tabulator(
            overview_frame([], 0.0),
            disabled=True,
            show_index=False,
            pagination="local",
            page_size=50,
            sizing_mode="stretch_width",
            hidden_columns=["store_id"],
            formatters={"mean dwell s": charts.seconds_cell()},
            selectable=False,
        )
        self.table.on_click(self._clicked)
        self.layout = pn.Column(
            self.summary,
            pn.pane.Markdown("Click a store to open it. Click a column header to sort.", styles={"color": "#666"}),
            self.table,
            sizing_mode="stretch_width",
            name="overview",
        )

    def _clicked(self, event: Any) -> None:
        row = event.row
        if row is not None and 0 <= row < len(self.table.value):
            self.page.open_store(str(self.table.value.iloc[row]["store_id"]))

    def load(self, conn: Connection, now: float) -> ChainOverviewOut:
        settings = self.page.ctx.settings
        return data.chain_overview(conn, self.page.time_range(), now, settings.online_window_s, settings.gaps)

    def draw(self, overview: ChainOverviewOut) -> None:
        rows = overview.stores
        visitors = sum(r.period.visits for r in rows)
        previous = sum(r.previous.visits for r in rows)
        change = f"{(visitors - previous) / previous * 100:+.1f} %" if previous else "n/a"
        online = sum(r.status.online for r in rows)
        gaps = sum(r.has_gaps for r in rows)
        self.summary.object = (
            f"**{len(rows)} stores** · **{visitors:,} visitors** in the range ({change} against the previous "
            f"period) · {online} stores online · {gaps} with data gaps"
        )
        self.table.value = overview_frame(rows, overview.generated_at)
