"""What every command line of the project shares: logging to stderr and failing with a clear message."""

from __future__ import annotations

import logging
import sys

import typer


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise (1: runtime, 2: configuration)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
