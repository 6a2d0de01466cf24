"""The fleet tab: every agent with its version, models, backlog and errors, and every camera's rate and drops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
from sqlalchemy import Connection

from central.api.models import AgentOut, ModelOut
from central.dashboard import data
from central.dashboard.rollouts_view import RolloutsLoaded, RolloutsSection

if TYPE_CHECKING:
    from central.dashboard.page import DashboardPage

MAX_AGENTS = 1000


@dataclass(frozen=True)
class FleetLoaded:
    agents: list[AgentOut]
    now: float
    rollouts: RolloutsLoaded | None


def ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86_400:.0f} days ago"


def _model(m: ModelOut) -> str:
    """``name/version``, and where the agent said so what runs it: ``yolov8n/4 (openvino/CPU int8)``."""
    how = " ".join(part for part in (m.runtime, m.precision) if part)
    return f"{m.name}/{m.version} ({how})" if how else f"{m.name}/{m.version}"


def agent_rows(agents: list[AgentOut], now: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "store": a.store_id,
                "agent": a.agent_id,
                "status": "online" if a.online else "offline",
                "last seen": ago(now - a.last_seen),
                "version": a.agent_version,
                "models": ", ".join(_model(m) for m in a.models),
                "cameras up": f"{sum(c.connected for c in a.cameras)} of {len(a.cameras)}",
                "backlog": a.outbox_backlog,
                "last error": a.last_error,
            }
            for a in agents
        ],
        columns=["store", "agent", "status", "last seen", "version", "models", "cameras up", "backlog", "last error"],
    )


def camera_rows(agents: list[AgentOut]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "store": a.store_id,
                "agent": a.agent_id,
                "camera": c.camera_id,
                "connected": "yes" if c.connected else "NO",
                "fps": round(c.fps, 1),
                "frames dropped": c.frames_dropped,
                "last error": c.last_error,
            }
            for a in agents
            for c in a.cameras
        ],
        columns=["store", "agent", "camera", "connected", "fps", "frames dropped", "last error"],
    )


class FleetView:
    def __init__(self, page: DashboardPage) -> None:
        self.page = page
        self.summary = pn.pane.Markdown("")
        options: dict[str, Any] = {"disabled": True, "show_index": False, "sizing_mode": "stretch_width"}
        self.agents = pn.widgets.Tabulator(agent_rows([], 0.0), pagination="local", page_size=25, **options)
        self.cameras = pn.widgets.Tabulator(camera_rows([]), pagination="local", page_size=25, **options)
        self.rollouts = RolloutsSection(page) if page.session.is_admin else None
        self.layout = pn.Column(
            self.summary,
            pn.pane.Markdown("### Agents"),
            self.agents,
            pn.pane.Markdown("### Cameras"),
            self.cameras,
            *([self.rollouts.layout] if self.rollouts is not None else []),
            sizing_mode="stretch_width",
            name="fleet",
        )

    def load(self, conn: Connection, now: float) -> FleetLoaded:
        window = self.page.ctx.settings.online_window_s
        rollouts = self.rollouts.load(conn, now) if self.rollouts is not None else None
        return FleetLoaded(data.fleet(conn, now, window, MAX_AGENTS), now, rollouts)

    def draw(self, loaded: FleetLoaded) -> None:
        agents, now = loaded.agents, loaded.now
        if self.rollouts is not None and loaded.rollouts is not None:
            self.rollouts.draw(loaded.rollouts)
        online = sum(a.online for a in agents)
        failing = sum(1 for a in agents for c in a.cameras if not c.connected)
        self.summary.object = (
            f"**{len(agents)} agents**, {online} online, {len(agents) - online} offline; "
            f"{failing} camera{'s' if failing != 1 else ''} disconnected."
        )
        self.agents.value = agent_rows(agents, now)
        self.cameras.value = camera_rows(agents)
