"""``retail-train fit``: train the LSTM-GRU behaviour model, tracked in MLflow, exported to ONNX, registered.

The local default tracks to a SQLite store (``mlflow.db``) and an artifact
folder (``mlartifacts/``) in the working directory. The run logs parameters,
per-epoch loss and accuracy, final per-class precision/recall/F1 on a held-out
split, the temperature fitted on that split and the calibration error (ECE)
before and after it, the same for the shipped labeller (model and rules,
:mod:`training.combination`, whose weights and temperature the file carries),
the confusion matrix as an image, the feature and label configuration
and the ONNX file, then registers a new version of ``behavior-classifier``
with the alias ``challenger`` (aliases, not the deprecated stages), tagged
with its metrics.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from edge_agent.behavior.features import feature_config, pad
from edge_agent.behavior.labeller import LabellerConfig, combine
from retail_common.taxonomy import LABELS
from training.calibrate import fit_temperature, reliability, softmax
from training.combination import RULE_WEIGHT, RULES_BELOW, fit_combination, rule_scores
from training.dataset import Encoded, batches, read_labelled_jsonl
from training.export import export_onnx, set_metadata
from training.metrics import Report, plot_confusion, report
from training.model import BehaviorNet
from training.registry import use_experiment
from training.simulate import NUISANCES, LabelledTrack, Nuisances, simulate

logger = logging.getLogger(__name__)

REGISTERED_NAME = "behavior-classifier"
ALIAS = "challenger"


@dataclass(frozen=True)
class FitConfig:
    seed: int = 7
    per_class: int = 1000
    epochs: int = 14
    batch_size: int = 64
    lr: float = 3e-3
    hidden: int = 64
    dense: int = 64
    val_fraction: float = 0.15
    folds: int = 0
    real: tuple[Path, ...] = field(default_factory=tuple)
    nuisances: Nuisances = NUISANCES
    rules_below: float = RULES_BELOW  # the labeller adds the rules' evidence below this model probability
    rule_weight: float = RULE_WEIGHT  # 0: the model labels alone


@dataclass(frozen=True)
class FitResult:
    run_id: str
    registered_version: str | None
    onnx_path: Path
    validation: Report
    temperature: float
    ece_before: float
    ece_after: float
    seconds: float
    labeller: LabellerConfig | None = None
    labeller_validation: Report | None = None


def default_tracking_uri(workdir: Path) -> str:
    return f"sqlite:///{(workdir / 'mlflow.db').resolve()}"


def train_model(
    cfg: FitConfig,
    train: Encoded,
    val: Encoded | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> BehaviorNet:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = BehaviorNet(cfg.hidden, cfg.dense)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * -(-len(train) // cfg.batch_size)
    )
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(cfg.epochs):
        model.train()
        total, correct, loss_sum = 0, 0, 0.0
        for x, mask, y in batches(train, cfg.batch_size, rng):
            xt, mt, yt = torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(y)
            logits = model.logits(xt, mt)
            loss = loss_fn(logits, yt)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(dim=1) == yt).sum())
            total += len(y)
        metrics = {"train_loss": loss_sum / total, "train_accuracy": correct / total}
        if val is not None and len(val):
            val_loss, val_pred = evaluate_model(model, val)
            metrics |= {"val_loss": val_loss, "val_accuracy": float((val_pred == val.labels).mean())}
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        logger.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return model


def predict_logits(model: BehaviorNet, data: Encoded, batch_size: int = 256) -> np.ndarray:
    """(N, 6) logits in the order of ``data``, batched by similar lengths."""
    model.eval()
    out = np.empty((len(data), len(LABELS)), dtype=np.float64)
    order = np.argsort([len(s) for s in data.sequences], kind="stable")
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x, mask = pad([data.sequences[i] for i in idx])
            out[idx] = model.logits(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
    return out


def evaluate_model(model: BehaviorNet, data: Encoded) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (at the model's temperature) and predicted class per track."""
    logits = predict_logits(model, data)
    probs = softmax(logits, float(model.temperature))
    loss = float(-np.log(np.maximum(probs[np.arange(len(data)), data.labels], 1e-12)).mean())
    return loss, logits.argmax(axis=1)


def calibrate(model: BehaviorNet, held_out: Encoded) -> tuple[float, float, float]:
    """Fit and set the model's temperature on held-out tracks; (temperature, ECE before, ECE after)."""
    logits = predict_logits(model, held_out)
    before = reliability(softmax(logits), held_out.labels).ece
    temperature = fit_temperature(logits, held_out.labels)
    model.temperature.fill_(temperature)
    after = reliability(softmax(logits, temperature), held_out.labels).ece
    return temperature, before, after


def fit_labeller(
    cfg: FitConfig, model: BehaviorNet, held_out: Encoded, tracks: Sequence[LabelledTrack]
) -> tuple[LabellerConfig | None, np.ndarray]:
    """The labeller's combination fitted on held-out tracks (None with ``rule_weight`` 0), and its probabilities."""
    probs = softmax(predict_logits(model, held_out), float(model.temperature))
    if cfg.rule_weight == 0.0:
        return None, probs
    scores = rule_scores(tracks)
    config = fit_combination(probs, scores, held_out.labels, cfg.rules_below, cfg.rule_weight)
    return config, combine(probs, scores, config)


def load_tracks(cfg: FitConfig) -> list[LabelledTrack]:
    tracks = list(simulate(cfg.per_class, cfg.seed, nuisances=cfg.nuisances))
    for path in cfg.real:
        real = read_labelled_jsonl(path)
        logger.info("mixing %d labelled tracks from %s", len(real), path)
        tracks.extend(real)
    return tracks


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 2]).permutation(n)
    cut = round(n * fraction)
    return order[cut:], order[:cut]


def fit(
    cfg: FitConfig,
    tracking_uri: str,
    export_to: Path | None = None,
    register: bool = True,
    experiment: str = REGISTERED_NAME,
) -> FitResult:
    import mlflow  # noqa: PLC0415 - heavy, and only the trainer needs it
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    started = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    use_experiment(tracking_uri, experiment)
    tracks = load_tracks(cfg)
    data = Encoded.from_tracks(tracks)
    train_idx, val_idx = split(len(data), cfg.val_fraction, cfg.seed)
    train, val = data.subset(train_idx), data.subset(val_idx)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        params = {k: (list(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}
        mlflow.log_params({**params, "n_tracks": len(data), "n_real": len(tracks) - cfg.per_class * len(LABELS)})
        mlflow.log_dict(feature_config(), "feature_config.json")
        if cfg.folds >= 2:
            cv = cross_validate(cfg, data)
            mlflow.log_metrics({"cv_macro_f1_mean": float(np.mean(cv)), "cv_macro_f1_std": float(np.std(cv))})

        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics(metrics, step=epoch + 1)

        model = train_model(cfg, train, val, log_epoch)
        temperature, ece_before, ece_after = calibrate(model, val)
        _, pred = evaluate_model(model, val)
        rep = report(val.labels, pred)
        final = {"val_macro_f1": rep.macro_f1, "val_accuracy": rep.accuracy, "temperature": temperature}
        final |= {"val_ece_before_calibration": ece_before, "val_ece": ece_after}
        labeller, labelled = fit_labeller(cfg, model, val, [tracks[i] for i in val_idx])
        labeller_rep = report(val.labels, labelled.argmax(axis=1))
        final |= {"labeller_val_macro_f1": labeller_rep.macro_f1, "labeller_val_accuracy": labeller_rep.accuracy}
        final["labeller_val_ece"] = reliability(labelled, val.labels).ece
        if labeller is not None:
            final["labeller_temperature"] = labeller.temperature
        for label in LABELS:
            final |= {f"val_precision_{label}": rep.precision[label], f"val_recall_{label}": rep.recall[label]}
            final[f"val_f1_{label}"] = rep.f1[label]
        mlflow.log_metrics(final)
        mlflow.log_metric("fit_seconds", time.perf_counter() - started)
        image = Path(tmp) / "confusion_matrix.png"
        plot_confusion(rep, image, "validation")
        mlflow.log_artifact(str(image))
        mlflow.log_text(rep.table("validation"), "validation_report.txt")
        onnx_path = Path(tmp) / f"{REGISTERED_NAME}.onnx"
        export_onnx(model, onnx_path, f"{REGISTERED_NAME}/run-{run.info.run_id[:8]}", labeller)
        mlflow.log_artifact(str(onnx_path), artifact_path="onnx")
        version: str | None = None
        if register:
            info = mlflow.onnx.log_model(
                onnx_model=onnx.load(str(onnx_path)),
                name="model",
                pip_requirements=["onnxruntime"],
                save_as_external_data=False,
            )
            mv = mlflow.register_model(info.model_uri, REGISTERED_NAME)
            version = str(mv.version)
            client = MlflowClient()
            client.set_registered_model_alias(REGISTERED_NAME, ALIAS, version)
            for key in ("val_macro_f1", "val_accuracy", "val_ece", "temperature", "labeller_val_macro_f1"):
                client.set_model_version_tag(REGISTERED_NAME, version, key, f"{final[key]:.4f}")
            client.set_model_version_tag(REGISTERED_NAME, version, "feature_config", json.dumps(feature_config()))
            set_metadata(onnx_path, f"{REGISTERED_NAME}/{version}")
        out = onnx_path
        if export_to is not None:
            export_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(onnx_path, export_to)
            out = export_to
        seconds = time.perf_counter() - started
        return FitResult(
            run.info.run_id, version, out, rep, temperature, ece_before, ece_after, seconds, labeller, labeller_rep
        )


def cross_validate(cfg: FitConfig, data: Encoded) -> Sequence[float]:
    folds = np.array_split(np.random.default_rng([cfg.seed, 3]).permutation(len(data)), cfg.folds)
    scores = []
    for k, held in enumerate(folds):
        rest = np.concatenate([f for i, f in enumerate(folds) if i != k])
        model = train_model(cfg, data.subset(rest))
        _, pred = evaluate_model(model, data.subset(held))
        scores.append(report(data.labels[held], pred).macro_f1)
        logger.info("fold %d/%d: macro-F1 %.4f", k + 1, cfg.folds, scores[-1])
    return scores
