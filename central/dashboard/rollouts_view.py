"""The fleet tab's rollout section, for admins: recent rollouts, the A/B comparison of one, and its commands.

The comparison is ``GET /rollouts/{id}/comparison``'s: the canary stores against the rest and against their
own previous week over the same hours, so an analyst can judge a behaviour model before promoting it. The
buttons run the same commands as ``retail-central rollout promote|pause|resume|rollback|abort``; the section
is built for admin sessions only and each command checks the session's role again on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
from sqlalchemy import Connection

from central.dashboard import charts
from central.rollout.compare import ComparisonOut, GroupOut, rollout_comparison
from central.rollout.policy import Command
from central.rollout.service import RolloutError, command
from central.rollout.status import RolloutOut, list_rollouts
from retail_common.taxonomy import LABELS

if TYPE_CHECKING:
    from central.dashboard.page import DashboardPage

MAX_ROLLOUTS = 20
COMMANDS = (Command.PROMOTE, Command.PAUSE, Command.RESUME, Command.ROLLBACK, Command.ABORT)


@dataclass(frozen=True)
class RolloutsLoaded:
    rollouts: list[RolloutOut]
    comparison: ComparisonOut | None


def rollout_rows(rollouts: list[RolloutOut]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "rollout": r.rollout_id,
                "model": f"{r.model_name}/{r.version}",
                "state": r.state,
                "canary stores": ", ".join(f"{n} {state}" for state, n in sorted(r.canary_states.items())),
                "all stores": ", ".join(f"{n} {state}" for state, n in sorted(r.store_states.items())),
                "why": r.message,
            }
            for r in rollouts
        ],
        columns=["rollout", "model", "state", "canary stores", "all stores", "why"],
    )


def comparison_rows(found: ComparisonOut | None) -> pd.DataFrame:
    groups: list[tuple[str, GroupOut]] = []
    if found is not None:
        groups = [
            ("canary", found.canary),
            ("rest of the fleet", found.rest),
            ("canary, week before", found.canary_previous_week),
        ]
    rows = []
    for name, g in groups:
        row: dict[str, Any] = {
            "group": name,
            "stores": g.stores,
            "visits": g.visits,
            "mean dwell s": round(g.mean_dwell_s, 1) if g.mean_dwell_s is not None else None,
        }
        row.update({label: f"{g.behavior_share.get(label, 0.0):.0%}" for label in LABELS})
        rows.append(row)
    return pd.DataFrame(rows, columns=["group", "stores", "visits", "mean dwell s", *LABELS])


class RolloutsSection:
    def __init__(self, page: DashboardPage) -> None:
        self.page = page
        options: dict[str, Any] = {"disabled": True, "show_index": False, "sizing_mode": "stretch_width"}
        self.table = pn.widgets.Tabulator(rollout_rows([]), **options)
        self.chosen = pn.widgets.Select(name="Rollout", options=[], width=240)
        self.ab = pn.widgets.Tabulator(
            comparison_rows(None), formatters={"mean dwell s": charts.seconds_cell()}, **options
        )
        self.message = pn.pane.Markdown("", margin=(24, 10))
        buttons = [self._button(cmd) for cmd in COMMANDS]
        self.chosen.param.watch(lambda _e: page.schedule_refresh(), "value")
        self.layout = pn.Column(
            pn.pane.Markdown("### Model rollouts (admin)"),
            self.table,
            pn.Row(self.chosen, *buttons, self.message),
            pn.pane.Markdown("A/B over the same hours: behaviour shares of the classified visits"),
            self.ab,
            sizing_mode="stretch_width",
        )

    def _button(self, cmd: Command) -> pn.widgets.Button:
        button = pn.widgets.Button(name=cmd.value.capitalize(), width=90, margin=(24, 4))

        def clicked(_event: Any) -> None:
            self._run(cmd)

        button.on_click(clicked)
        return button

    def load(self, conn: Connection, now: float) -> RolloutsLoaded:
        rollouts = list_rollouts(conn, MAX_ROLLOUTS)
        ids = [r.rollout_id for r in rollouts]
        chosen = self.chosen.value if self.chosen.value in ids else next(iter(ids), None)
        return RolloutsLoaded(rollouts, rollout_comparison(conn, chosen, now) if chosen else None)

    def draw(self, loaded: RolloutsLoaded) -> None:
        self.table.value = rollout_rows(loaded.rollouts)
        ids = [r.rollout_id for r in loaded.rollouts]
        if list(self.chosen.options) != ids:
            chosen = self.chosen.value if self.chosen.value in ids else next(iter(ids), None)
            self.chosen.param.update(options=ids, value=chosen)
        self.ab.value = comparison_rows(loaded.comparison)

    def _run(self, cmd: Command) -> None:
        session = self.page.session
        if not session.is_admin:  # the section is never built for a viewer; refused all the same
            self.message.object = "Only an admin key may command rollouts."
            return
        rollout_id = self.chosen.value
        if not rollout_id:
            self.message.object = "Choose a rollout first."
            return
        try:
            state = command(self.page.ctx.engine, rollout_id, cmd)
        except RolloutError as e:
            self.message.object = f"**{cmd.value} refused:** {e}"
            return
        self.message.object = f"{cmd.value}: rollout {rollout_id} is now **{state.value}**"
        self.page.schedule_refresh()
