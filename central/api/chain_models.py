"""Response models of the chain overview (``GET /overview``): every store of a page with its numbers, agents
and gaps."""

from __future__ import annotations

from pydantic import Field

from central.api.models import BehaviorShare, Out, RangeOut, VisitsSummary


class AgentsStatus(Out):
    agents: int = Field(description="agents the store has")
    agents_online: int = Field(description="of those, with a heartbeat within the online window")
    online: bool = Field(description="at least one agent is online")
    last_seen: float | None = Field(description="latest heartbeat of any of its agents (epoch seconds)")
    backlog: int = Field(description="items waiting in its agents' outboxes, as their last heartbeats said")
    cameras_connected: int = Field(description="cameras its online agents report connected")
    cameras_total: int = Field(description="cameras central knows of the store")


class StoreSummary(Out):
    store_id: str
    name: str
    timezone: str
    today: VisitsSummary = Field(description="the store's current local day")
    period: VisitsSummary = Field(description="the requested range")
    previous: VisitsSummary = Field(description="the period of the same length just before the range")
    change: float | None = Field(description="(period - previous) / previous visits; null when previous is 0")
    behavior: list[BehaviorShare] = Field(description="behaviour mix over the range")
    status: AgentsStatus
    has_gaps: bool = Field(description="some hour of the range is missing data (a camera or agent was down)")


class ChainOverviewOut(Out):
    generated_at: float
    range: RangeOut
    previous_range: RangeOut = Field(description="the period of the same length just before `range`")
    stores: list[StoreSummary] = Field(description="one page of stores, by store id")
    total: int = Field(description="stores in the chain (all pages)")
    limit: int
    offset: int
