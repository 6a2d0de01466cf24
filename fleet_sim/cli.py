"""``retail-fleet-sim``: push simulated stores through a central's real gRPC ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from central.config import load_central_config
from fleet_sim.send import SimulationError, run_simulation
from retail_common.cli import fail, setup_logging
from retail_common.config import ConfigError

app = typer.Typer(add_completion=False)


@app.command()
def simulate(
    stores: Annotated[int, typer.Option(min=1, max=999, help="simulated stores: sim-001, sim-002, ...")] = 3,
    days: Annotated[int, typer.Option(min=1, max=366, help="days of traffic, ending yesterday")] = 7,
    target: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of a running central's gRPC ingest (default: one in this process)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="same seed: same stores, visits and ids")] = 0,
    tls_ca: Annotated[Path | None, typer.Option(help="PEM CA of the central at --target: use TLS")] = None,
    agents: Annotated[int, typer.Option(min=1, max=200, help="stores pushing at once (a thread and channel each)")] = 8,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="central YAML file whose database gets the stores")
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", help="SQLAlchemy URL; overrides the config (e.g. postgresql://host/db)")
    ] = None,
    newest_first: Annotated[
        bool, typer.Option(help="send each store's days from yesterday back (use --agents >= --stores)")
    ] = False,
    today: Annotated[
        bool, typer.Option(help="also today, as far as it has gone (finished tracks, closed buckets)")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Push simulated stores' summaries, tiles and door counts through the real gRPC ingest, with real tokens."""
    setup_logging(verbose)
    try:
        cfg = load_central_config(config)
    except ConfigError as e:
        raise fail(str(e), 2) from e
    try:
        report = run_simulation(
            database or cfg.database_url,
            target,
            stores,
            days,
            seed,
            tls_ca=tls_ca,
            agents=agents,
            progress=typer.echo,
            newest_first=newest_first,
            include_today=today,
        )
    except SimulationError as e:
        raise fail(str(e)) from e
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise fail(f"{report.total('rejected')} items rejected, {report.total('failed')} not stored (see above)")


def main() -> None:
    app()
