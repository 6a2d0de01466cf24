"""``retail-central``: the chain-wide aggregator (gRPC ingest, REST API, dashboard, model rollouts)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Central service of the retail analytics fleet.", no_args_is_help=True, add_completion=False)

PLANNED = {
    "serve": "run the gRPC ingest and the REST API / dashboard",
    "stores": "create, list and rotate store enrollment tokens",
    "apikeys": "create API keys for the REST API",
    "simulate": "push a simulated fleet of stores through the real gRPC path",
    "rollout": "roll a registered model version out to the stores (canary, promote, rollback)",
}


@app.command("commands")
def commands() -> None:
    """List the sub-commands of the central service and whether they are available yet."""
    for name, what in PLANNED.items():
        typer.echo(f"{name:10s} {what} (not available yet)")


def main() -> None:
    app()
