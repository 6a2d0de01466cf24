"""The chain overview tab: every store's visitors, change, dwell, behaviour mix, agent status and data gaps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
from sqlalchemy import Connection

from central.dashboard import data

if TYPE_CHECKING:
    from central.dashboard.page import DashboardPage

COLUMNS = [
    "store_id",
    "store",
    "visitors today",
    "visitors",
    "previous period",
    "change %",
    "mean dwell s",
    "top behaviour",
    "agent",
    "last seen",
    "backlog",
    "cameras up",
    "gaps",
]


def overview_frame(rows: list[data.ChainRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "store_id": r.store_id,
                "store": r.name,
                "visitors today": r.visitors_today,
                "visitors": r.visitors,
                "previous period": r.visitors_previous,
                "change %": round(r.change * 100.0, 1) if r.change is not None else None,
                "mean dwell s": round(r.mean_dwell_s, 1) if r.mean_dwell_s is not None else None,
                "top behaviour": r.top_behavior,
                "agent": r.agent_status,
                "last seen": r.last_seen,
                "backlog": r.backlog,
                "cameras up": r.cameras_up,
                "gaps": "GAPS" if r.has_gaps else "",
            }
            for r in rows
        ],
        columns=COLUMNS,
    )


class OverviewView:
    def __init__(self, page: DashboardPage) -> None:
        self.page = page
        self.summary = pn.pane.Markdown("")
        self.table = pn.widgets.Tabulator(
            overview_frame([]),
            disabled=True,
            show_index=False,
            pagination="local",
            page_size=50,
            sizing_mode="stretch_width",
            hidden_columns=["store_id"],
            selectable=False,
            formatters={"change %": {"type": "money", "symbol": "%", "symbolAfter": True, "precision": 1}},
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

    def load(self, conn: Connection, now: float) -> list[data.ChainRow]:
        ctx = self.page.ctx
        return data.chain_overview(conn, self.page.time_range(), now, ctx.settings.online_window_s)

    def draw(self, rows: list[data.ChainRow]) -> None:
        visitors = sum(r.visitors for r in rows)
        previous = sum(r.visitors_previous for r in rows)
        change = f"{(visitors - previous) / previous * 100:+.1f} %" if previous else "n/a"
        online = sum(r.agent_status == "online" for r in rows)
        gaps = sum(r.has_gaps for r in rows)
        self.summary.object = (
            f"**{len(rows)} stores** · **{visitors:,} visitors** in the range ({change} against the previous "
            f"period) · {online} stores online · {gaps} with data gaps"
        )
        self.table.value = overview_frame(rows)
