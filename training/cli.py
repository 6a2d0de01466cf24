"""``retail-train``: behaviour model training (simulate, fit, evaluate, export)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Behaviour model training.", no_args_is_help=True, add_completion=False)

PLANNED = {
    "simulate": "write labelled simulated tracks (BEHAVIORS.md JSONL)",
    "fit": "train the LSTM-GRU model, tracked in MLflow, exported to ONNX",
    "evaluate": "per-class F1 and confusion matrix against the rule baseline",
}


@app.command("commands")
def commands() -> None:
    """List the sub-commands of the trainer and whether they are available yet."""
    for name, what in PLANNED.items():
        typer.echo(f"{name:10s} {what} (not available yet)")


def main() -> None:
    app()
