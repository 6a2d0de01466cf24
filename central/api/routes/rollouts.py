"""Model rollouts (admin keys only): start, list, status with the reason and numbers, commands, A/B comparison."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from central.api.deps import ID_MAX, ID_PATTERN, Admin, Conn, Context, Limit, Offset
from central.api.errors import ApiError, not_found, responses
from central.rollout.compare import ComparisonOut, rollout_comparison
from central.rollout.policy import Command
from central.rollout.service import RolloutError, StartRequest, command, start
from central.rollout.status import RolloutOut, get_rollout, list_rollouts
from retail_common.config import StrictModel

router = APIRouter(prefix="/rollouts", tags=["rollouts"], responses=responses(403))

RolloutIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$", description="the rollout's id")]
StoreIds = list[Annotated[str, Field(pattern=ID_PATTERN, max_length=ID_MAX)]]


class StartIn(StrictModel):
    model_name: Literal["behavior-classifier", "person-detector"] = Field(description="the registered model")
    version: str = Field(
        description="registry version number, or an alias (challenger)", pattern=r"^@?[A-Za-z0-9_-]{1,64}$"
    )
    stores: StoreIds | None = Field(None, max_length=100_000, description="the stores it covers (default: all)")
    canary_percent: float = Field(10.0, ge=0, le=100, description="share of the stores that go first")
    canary_stores: StoreIds | None = Field(
        None, max_length=100_000, description="stores that go first, instead of canary_percent"
    )
    max_failures: int = Field(0, ge=0, le=100_000, description="canary stores that may fail before it halts")
    observe_minutes: float = Field(60.0, ge=0, le=10_080, description="how long the canary is watched")


def _refused(e: RolloutError) -> ApiError:
    return ApiError(e.status, str(e))


@router.get("", summary="Rollouts, newest first")
def list_all(conn: Conn, _admin: Admin, limit: Limit = 50, offset: Offset = 0) -> list[RolloutOut]:
    return list_rollouts(conn, limit, offset)


@router.post("", status_code=201, responses=responses(400, 404, 422), summary="Start a rollout of a registry version")
async def start_rollout(body: StartIn, ctx: Context, _admin: Admin) -> RolloutOut:
    """Fetches the version from MLflow into central's cache and checks it before any store hears of it (422 with
    the reason when it is not a valid model of its role); supersedes the model's live rollouts."""
    request = StartRequest(
        model_name=body.model_name,
        version=body.version,
        stores=body.stores,
        canary_percent=body.canary_percent,
        canary_stores=body.canary_stores,
        max_failures=body.max_failures,
        observe_s=body.observe_minutes * 60,
    )
    try:
        rollout_id = await run_in_threadpool(start, ctx.engine, ctx.artifacts, request, ctx.settings.rollout.max_stores)
    except RolloutError as e:
        raise _refused(e) from e
    with ctx.engine.connect() as conn:
        found = get_rollout(conn, rollout_id)
    if found is None:  # removed between the two statements: nothing removes rollouts
        raise not_found(f"rollout {rollout_id!r}")
    return found


@router.get("/{rollout_id}", responses=responses(404), summary="A rollout: state, why (with numbers), stores")
def status(conn: Conn, _admin: Admin, rollout_id: RolloutIdPath) -> RolloutOut:
    found = get_rollout(conn, rollout_id)
    if found is None:
        raise not_found(f"rollout {rollout_id!r}")
    return found


def _command_route(cmd: Command, summary: str) -> None:
    """One route per command (``POST /rollouts/{id}/promote`` ...): fixed paths, so that no command path
    overlaps ``/rollouts/{id}/comparison``."""

    def act(ctx: Context, _admin: Admin, rollout_id: RolloutIdPath) -> RolloutOut:
        try:
            command(ctx.engine, rollout_id, cmd)
        except RolloutError as e:
            raise _refused(e) from e
        with ctx.engine.connect() as conn:
            found = get_rollout(conn, rollout_id)
        if found is None:
            raise not_found(f"rollout {rollout_id!r}")
        return found

    router.add_api_route(
        f"/{{rollout_id}}/{cmd.value}",
        act,
        methods=["POST"],
        responses=responses(404, 409),
        summary=summary,
        name=f"rollout_{cmd.value}",
    )


for _cmd, _summary in (
    (Command.PROMOTE, "Give the version to every store of the rollout now"),
    (Command.PAUSE, "Stop advancing the rollout; stores keep what they run"),
    (Command.RESUME, "Continue a paused or halted rollout (the canary is observed again)"),
    (Command.ROLLBACK, "Every store of the rollout goes back to the version it ran before"),
    (Command.ABORT, "Stop the rollout; stores follow the model's earlier rollouts again"),
):
    _command_route(_cmd, _summary)


@router.get(
    "/{rollout_id}/comparison",
    responses=responses(404),
    summary="A/B: canary stores against the rest and against their own previous week, over the same hours",
)
def ab_comparison(conn: Conn, _admin: Admin, rollout_id: RolloutIdPath) -> ComparisonOut:
    found = rollout_comparison(conn, rollout_id, time.time())
    if found is None:
        raise not_found(f"rollout {rollout_id!r}")
    return found
