"""``retail-train``: behaviour model training (simulate, fit, evaluate)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from retail_common.cli import fail, setup_logging
from training.combination import RULE_WEIGHT, RULES_BELOW

app = typer.Typer(help="Behaviour model training.", no_args_is_help=True, add_completion=False)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False) -> None:
    setup_logging(verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # stores may have no internet at all


@app.command()
def simulate(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write")],
    per_class: Annotated[int, typer.Option(min=1, help="tracks of each behaviour")] = 100,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same file")] = 0,
) -> None:
    """Write labelled simulated tracks (BEHAVIORS.md JSONL plus a 'label' field)."""
    from training.simulate import simulate as run
    from training.simulate import write_jsonl

    n = write_jsonl(run(per_class, seed), output)
    typer.echo(f"{n} tracks written to {output}")


@app.command()
def fit(
    seed: Annotated[int, typer.Option(help="simulator and training seed")] = 7,
    per_class: Annotated[int, typer.Option(min=1, help="simulated tracks per behaviour")] = 1000,
    epochs: Annotated[int, typer.Option(min=1)] = 14,
    hidden: Annotated[int, typer.Option(min=4, max=256, help="LSTM and GRU width")] = 64,
    real: Annotated[list[Path] | None, typer.Option(help="labelled JSONL tracks to mix in (repeatable)")] = None,
    folds: Annotated[int, typer.Option(min=0, help="k-fold cross-validation before the final fit (0: off)")] = 0,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: ./mlflow.db)")] = None,
    export: Annotated[Path | None, typer.Option(help="also copy the ONNX model here")] = None,
    register: Annotated[bool, typer.Option(help="register a version of 'behavior-classifier'")] = True,
    rules_below: Annotated[
        float, typer.Option(min=0, max=1, help="the labeller adds the rules' evidence below this model probability")
    ] = RULES_BELOW,
    rule_weight: Annotated[
        float, typer.Option(min=0, max=100, help="nats per whole signature the rules add (0: the model alone)")
    ] = RULE_WEIGHT,
) -> None:
    """Train the LSTM-GRU model, tracked in MLflow, exported to ONNX and registered."""
    from training.dataset import DatasetError
    from training.fit import FitConfig, default_tracking_uri
    from training.fit import fit as run

    cfg = FitConfig(
        seed=seed,
        per_class=per_class,
        epochs=epochs,
        hidden=hidden,
        dense=hidden,
        folds=folds,
        real=tuple(real or ()),
        rules_below=rules_below,
        rule_weight=rule_weight,
    )
    try:
        result = run(cfg, tracking_uri or default_tracking_uri(Path.cwd()), export_to=export, register=register)
    except DatasetError as e:
        raise fail(str(e)) from e
    typer.echo(result.validation.table("held-out validation split"))
    typer.echo(
        f"temperature {result.temperature:.3f}: ECE {result.ece_before:.3f} before, {result.ece_after:.3f} after"
    )
    if result.labeller is not None and result.labeller_validation is not None:
        typer.echo(
            f"labeller (rules below p {result.labeller.rules_below}, weight {result.labeller.rule_weight}, "
            f"temperature {result.labeller.temperature:.3f}): macro-F1 {result.labeller_validation.macro_f1:.3f}"
        )
    version = f"version {result.registered_version}" if result.registered_version else "not registered"
    typer.echo(f"run {result.run_id}, {version}, model {result.onnx_path}, {result.seconds:.0f} s")


@app.command()
def evaluate(
    model: Annotated[
        Path | None, typer.Option(help="ONNX model (default: the one packaged with the edge agent)")
    ] = None,
    per_class: Annotated[int, typer.Option(min=1, help="held-out tracks per behaviour")] = 300,
    seed: Annotated[int, typer.Option(help="held-out simulator seed (never one used for training)")] = 1_000_003,
    real: Annotated[
        list[Path] | None, typer.Option(help="labelled JSONL of real tracks, e.g. from `real-case` (repeatable)")
    ] = None,
    eth_ucy: Annotated[
        list[Path] | None, typer.Option(help="ETH/UCY text files: the label distribution on real pedestrians")
    ] = None,
    shifts: Annotated[bool, typer.Option(help="run the shift suite (trains one small model per shift)")] = True,
    suite_per_class: Annotated[int, typer.Option(min=6, help="training tracks per behaviour in each shift")] = 120,
    suite_test_per_class: Annotated[int, typer.Option(min=1, help="test tracks per behaviour in each shift")] = 50,
    suite_seed: Annotated[int, typer.Option(help="seed of the shift suite")] = 11,
) -> None:
    """Held-out simulator seeds beside the rule baseline, calibration, the real case, and the shift suite."""
    from training.dataset import DatasetError, read_labelled_jsonl
    from training.eth_ucy import read_tracks
    from training.evaluate import distribution_table, real_case_table
    from training.evaluate import evaluate as run
    from training.shifts import SuiteConfig, run_suite, suite_table

    result = run(model, per_class, seed)
    typer.echo(result.model.table(f"model {result.model_version}, held-out seed {seed}"))
    typer.echo("")
    typer.echo(result.rules.table("rule baseline"))
    typer.echo("")
    typer.echo(result.before.table("calibration before temperature scaling"))
    typer.echo(result.after.table(f"calibration of the model (temperature {result.temperature:.3f})"))
    typer.echo("")
    typer.echo(result.shipped.table("shipped labeller (model, rules where it is unsure)"))
    typer.echo("")
    typer.echo(result.shipped_reliability.table("calibration of the shipped labeller"))
    for path in real or ():
        try:
            tracks = read_labelled_jsonl(path)
        except (OSError, DatasetError) as e:
            raise fail(str(e)) from e
        typer.echo("")
        typer.echo(real_case_table(model, tracks))
    if eth_ucy:
        try:
            pedestrians = [(p[:, 0], p[:, 1:]) for f in eth_ucy for _, p in read_tracks(f)]
        except (OSError, ValueError) as e:
            raise fail(str(e)) from e
        typer.echo("")
        typer.echo(distribution_table(model, pedestrians, "ETH/UCY pedestrians (no labels)"))
    if shifts:
        typer.echo("")
        cfg = SuiteConfig(seed=suite_seed, train_per_class=suite_per_class, test_per_class=suite_test_per_class)
        typer.echo(suite_table(run_suite(cfg)))


@app.command("real-case")
def real_case(
    output: Annotated[Path, typer.Option("--output", "-o", help="labelled JSONL file to write")],
    shared: Annotated[Path, typer.Option(help="folder holding data/ and models/ of the real case")] = Path("../shared"),
) -> None:
    """Track the six visitors of Intel's clip with the real person detector (slow: minutes) and write them."""
    from training.intel_case import RealCaseMissingError, build
    from training.simulate import write_jsonl

    try:
        case = build(shared)
    except (RealCaseMissingError, ValueError) as e:
        raise fail(str(e)) from e
    n = write_jsonl(iter(case.tracks), output)
    typer.echo(f"{n} real tracks written to {output}")


@app.command("eth-ucy")
def eth_ucy(
    files: Annotated[list[Path], typer.Argument(help="ETH/UCY text files (frame ped x y)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write")],
    min_seconds: Annotated[float, typer.Option(help="leave out shorter tracks")] = 8.0,
) -> None:
    """Convert ETH/UCY pedestrian trajectories to BEHAVIORS.md JSONL (for `retail-edge classify`)."""
    from training.eth_ucy import convert

    try:
        n = convert(files, output, min_seconds)
    except (OSError, ValueError) as e:
        raise fail(str(e)) from e
    typer.echo(f"{n} tracks of {min_seconds:g} s or more written to {output}")


@app.command("register-detector")
def register_detector(
    model: Annotated[Path, typer.Argument(help="an Ultralytics YOLO export (.onnx)", exists=True, dir_okay=False)],
    classes: Annotated[
        list[int] | None, typer.Option("--classes", help="class index kept as a person (repeat; default 0)")
    ] = None,
    alias: Annotated[str | None, typer.Option(help="point this alias of person-detector at the new version")] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default: ./mlflow.db)")] = None,
) -> None:
    """Check a YOLO file's layout and register it as a new 'person-detector' version (rolled out by central)."""
    from training.fit import default_tracking_uri
    from training.registry import RegistrationError
    from training.registry import register_detector as run

    try:
        version = run(model, tracking_uri or default_tracking_uri(Path.cwd()), classes or [0], alias)
    except RegistrationError as e:
        raise fail(str(e), 2) from e
    typer.echo(f"registered person-detector version {version}")


def main() -> None:
    app()
