"""``retail-central``: the chain-wide aggregator (gRPC ingest, REST API, stores, API keys, database)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from central.config import CentralConfig, load_central_config
from retail_common.cli import fail, setup_logging
from retail_common.config import ConfigError
from retail_common.service import add_install_service_command

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="Central service of the retail analytics fleet.", no_args_is_help=True, add_completion=False)
stores_app = typer.Typer(help="Stores and their enrollment tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of the REST API (roles: admin, viewer).", no_args_is_help=True)
db_app = typer.Typer(help="The central database.", no_args_is_help=True)
cameras_app = typer.Typer(help="Cameras of a store: their background pictures.", no_args_is_help=True)
rollout_app = typer.Typer(
    help="Model rollouts from the MLflow registry to the stores: canary, promote, rollback.", no_args_is_help=True
)
app.add_typer(stores_app, name="stores")
app.add_typer(cameras_app, name="cameras")
app.add_typer(keys_app, name="apikeys")
app.add_typer(db_app, name="db")
app.add_typer(rollout_app, name="rollout")

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="central YAML file (default: built-in)")]
DatabaseOption = Annotated[
    str | None, typer.Option("--database", help="SQLAlchemy URL; overrides the config (e.g. postgresql://host/db)")
]


def _config(path: Path | None, database: str | None = None, **overrides: object) -> CentralConfig:
    try:
        config = load_central_config(path)
    except ConfigError as e:
        raise fail(str(e), 2) from e
    if database:
        config = config.model_copy(update={"database_url": database})
    grpc = {k[5:]: v for k, v in overrides.items() if k.startswith("grpc_") and v is not None}
    http = {k[5:]: v for k, v in overrides.items() if k.startswith("http_") and v is not None}
    return config.model_copy(
        update={"grpc": config.grpc.model_copy(update=grpc), "http": config.http.model_copy(update=http)}
    )


def _engine(config: CentralConfig) -> Engine:
    from central.db.engine import make_engine
    from central.db.migrate import upgrade

    engine = make_engine(config.database_url)
    upgrade(engine)
    return engine


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


@app.command()
def serve(
    config: ConfigOption = None,
    database: DatabaseOption = None,
    grpc_host: Annotated[str | None, typer.Option(help="gRPC bind address")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="gRPC port (0: any free one)")] = None,
    http_host: Annotated[str | None, typer.Option(help="HTTP bind address")] = None,
    http_port: Annotated[int | None, typer.Option(help="HTTP port (0: any free one)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the gRPC ingest and the REST API until SIGTERM (migrates the database first)."""
    from central.serve import serve as run

    setup_logging(verbose)
    cfg = _config(config, database, grpc_host=grpc_host, grpc_port=grpc_port, http_host=http_host, http_port=http_port)
    try:
        asyncio.run(run(cfg))
    except OSError as e:
        raise fail(str(e)) from e


@app.command("check-config")
def check_config(config: Annotated[Path, typer.Argument(help="central YAML file")]) -> None:
    """Validate a central configuration; exits 2 naming each error's YAML path and line."""
    cfg = _config(config)
    typer.echo(f"{config}: valid (database {cfg.database_url.split('://')[0]}, gRPC port {cfg.grpc.port})")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Apply pending schema migrations (serve does this at start)."""
    from central.db.migrate import current_revision

    engine = _engine(_config(config, database))
    typer.echo(f"database at revision {current_revision(engine)}")


@stores_app.command("create")
def stores_create(
    store_id: Annotated[str, typer.Argument(help="letters, digits, '_', '-', '.'")],
    name: Annotated[str | None, typer.Option(help="display name (default: the id)")] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone of its local hours and days, e.g. Europe/Paris")
    ] = "UTC",
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create a store and print its enrollment token (shown once: put it in the agent's config)."""
    from central.stores import StoreError, create_store

    try:
        token = create_store(_engine(_config(config, database)), store_id, name, timezone)
    except StoreError as e:
        raise fail(str(e)) from e
    typer.echo(token)


@stores_app.command("rotate")
def stores_rotate(store_id: str, config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Replace a store's token; the old one stops working at once. Prints the new token."""
    from central.stores import StoreError, rotate_token

    try:
        token = rotate_token(_engine(_config(config, database)), store_id)
    except StoreError as e:
        raise fail(str(e)) from e
    typer.echo(token)


@stores_app.command("set-timezone")
def stores_set_timezone(
    store_id: str,
    timezone: Annotated[str, typer.Argument(help="IANA time zone, e.g. Europe/Paris, Asia/Kolkata, UTC")],
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Move a store to another time zone: its series are read in that zone's hours and days from now on."""
    from central.stores import StoreError, change_store

    try:
        change_store(_engine(_config(config, database)), store_id, timezone=timezone)
    except StoreError as e:
        raise fail(str(e)) from e
    typer.echo(f"store {store_id} now in {timezone}")


@stores_app.command("list")
def stores_list(config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Stores with when they were created and when their token last changed (tokens are never shown)."""
    from central.stores import list_stores

    for s in list_stores(_engine(_config(config, database))):
        typer.echo(
            f"{s.store_id:24s} {s.name:30s} {s.timezone:20s} created {_when(s.created_at)}  "
            f"token {_when(s.token_rotated_at)}"
        )


@cameras_app.command("set-background")
def cameras_set_background(
    store_id: str,
    camera_id: str,
    file: Annotated[Path, typer.Argument(help="PNG or JPEG: a floor plan, or `retail-edge analyze`'s heatmap plate")],
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Set the picture a camera's heatmap is drawn over (re-encoded without metadata; replaces the previous one)."""
    from central.backgrounds import BackgroundError, put_background

    cfg = _config(config, database)
    try:
        with file.open("rb") as f:
            data = f.read(cfg.backgrounds.max_bytes + 1)  # one byte more than allowed is refused as too large
    except OSError as e:
        raise fail(f"cannot read {file}: {e.strerror or e}") from e
    try:
        stored = put_background(_engine(cfg), store_id, camera_id, data, "cli", cfg.backgrounds)
    except BackgroundError as e:
        raise fail(f"{file}: {e}") from e
    typer.echo(f"camera {camera_id} of store {store_id}: {stored.width}x{stored.height} {stored.media_type} stored")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="who or what uses the key")],
    role: Annotated[str, typer.Option(help="admin or viewer")] = "viewer",
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API key and print it (shown once)."""
    from central.api.keys import create_api_key

    try:
        key = create_api_key(_engine(_config(config, database)), name, role)
    except ValueError as e:
        raise fail(str(e)) from e
    typer.echo(key)


@keys_app.command("list")
def keys_list(config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """API keys: id, role, name, created, revoked (secrets are never shown)."""
    from central.api.keys import list_api_keys

    for k in list_api_keys(_engine(_config(config, database))):
        revoked = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        typer.echo(f"{k.key_id}  {k.role:7s} {k.name:30s} created {_when(k.created_at)}  {revoked}")


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOption = None, database: DatabaseOption = None) -> None:
    """Revoke an API key at once."""
    from central.api.keys import revoke_api_key

    if not revoke_api_key(_engine(_config(config, database)), key_id):
        raise fail(f"no active API key {key_id!r}")
    typer.echo(f"revoked {key_id}")


RolloutId = Annotated[str, typer.Argument(help="the rollout's id (from start or list)")]


def _ids(text: str | None) -> list[str] | None:
    return None if text is None or text == "all" else [s for s in (x.strip() for x in text.split(",")) if s]


@rollout_app.command("start")
def rollout_start(
    model: Annotated[str, typer.Argument(help="behavior-classifier or person-detector")],
    version: Annotated[str, typer.Argument(help="registry version number, or an alias such as challenger")],
    stores: Annotated[str, typer.Option(help="'all' or store ids separated by commas")] = "all",
    canary: Annotated[float, typer.Option(min=0, max=100, help="percent of the stores that go first")] = 10.0,
    canary_stores: Annotated[str | None, typer.Option(help="store ids that go first, instead of --canary")] = None,
    max_failures: Annotated[int, typer.Option(min=0, max=100_000, help="canary failures tolerated")] = 0,
    observe: Annotated[float, typer.Option(min=0, max=10_080, help="minutes the canary is watched")] = 60.0,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow registry (default: the config's)")] = None,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Fetch the version from MLflow into central's cache, check it and start rolling it out; prints the id."""
    from central.registry.cache import ArtifactCache
    from central.rollout.service import RolloutError, StartRequest, start

    cfg = _config(config, database)
    rollout = cfg.rollout
    cache = ArtifactCache(
        _engine(cfg), rollout.artifact_cache, tracking_uri or rollout.tracking_uri, rollout.max_artifact_mb << 20
    )
    request = StartRequest(
        model_name=model,
        version=version,
        stores=_ids(stores),
        canary_percent=canary,
        canary_stores=_ids(canary_stores),
        max_failures=max_failures,
        observe_s=observe * 60,
    )
    try:
        rollout_id = start(cache.engine, cache, request, rollout.max_stores)
    except RolloutError as e:
        raise fail(str(e)) from e
    typer.echo(rollout_id)


def _rollout_command(name: str) -> None:
    from central.rollout.policy import Command

    cmd = Command(name)

    def run(rollout_id: RolloutId, config: ConfigOption = None, database: DatabaseOption = None) -> None:
        from central.rollout.service import RolloutError, command

        try:
            state = command(_engine(_config(config, database)), rollout_id, cmd)
        except RolloutError as e:
            raise fail(str(e)) from e
        typer.echo(f"{rollout_id}: {state.value}")

    run.__doc__ = {
        "promote": "Give the version to every store of the rollout now, whatever the canary shows.",
        "pause": "Stop advancing the rollout; stores keep what they run.",
        "resume": "Continue a paused or halted rollout (the canary is observed again).",
        "rollback": "Every store of the rollout goes back to the version it ran before.",
        "abort": "Stop the rollout; stores follow the model's earlier rollouts again.",
    }[name]
    rollout_app.command(name)(run)


for _name in ("promote", "pause", "resume", "rollback", "abort"):
    _rollout_command(_name)


@rollout_app.command("status")
def rollout_status(
    rollout_id: RolloutId,
    json_out: Annotated[bool, typer.Option("--json", help="the REST API's JSON instead of text")] = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """A rollout's state, why it is there (with the numbers) and where each store is."""
    from central.rollout.status import get_rollout

    with _engine(_config(config, database)).connect() as conn:
        found = get_rollout(conn, rollout_id)
    if found is None:
        raise fail(f"no rollout {rollout_id!r}")
    if json_out:
        typer.echo(found.model_dump_json(indent=2))
        return
    typer.echo(f"rollout {found.rollout_id}: {found.model_name}/{found.version} (sha256 {found.sha256})")
    typer.echo(
        f"state {found.state} since {_when(found.state_since)}"
        + (f" [{found.failure_code}]" if found.failure_code else "")
    )
    typer.echo(f"why: {found.message}")
    for key, value in found.details.items():
        typer.echo(f"  {key}: {value}")
    typer.echo(f"rollback to: {found.previous_version or 'nothing'}")
    typer.echo("stores: " + ", ".join(f"{k} {v}" for k, v in sorted(found.store_states.items())))
    for s in found.stores or []:
        role = "canary" if s.canary else "      "
        failure = f" {s.failure_code}: {s.message}" if s.failure_code else ""
        typer.echo(f"  {s.store_id:24s} {role} {s.state:13s}{failure}")


@rollout_app.command("list")
def rollout_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Rollouts, newest first."""
    from central.rollout.status import list_rollouts

    with _engine(_config(config, database)).connect() as conn:
        for r in list_rollouts(conn, limit):
            states = ", ".join(f"{k} {v}" for k, v in sorted(r.store_states.items()))
            typer.echo(f"{r.rollout_id}  {r.model_name}/{r.version:6s} {r.state:12s} {_when(r.created_at)}  {states}")


add_install_service_command(
    app, "central", "retail-central", Path("/etc/retail-central/central.yaml"), "retail-central check-config", "central"
)


def main() -> None:
    app()
