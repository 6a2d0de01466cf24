"""Installs from a real gRPC server into a real models folder, swapped by the scheduler's own code: what a good
model goes through, and every bad artifact that must never replace a working model."""

from __future__ import annotations

import errno
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import model_files
import pytest
from model_server import ModelServer, model_server

from edge_agent.behavior.classifier import BehaviorClassifier, default_model_path
from edge_agent.config.models import AgentConfig, SyncConfig
from edge_agent.detect.base import build_detector
from edge_agent.runtime.models_in_use import ModelsInUse
from edge_agent.sync.client import CentralClient
from edge_agent.updater.manifest import Manifest
from edge_agent.updater.policy import InstallState
from edge_agent.updater.updater import ModelUpdater
from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL, FailureCode

PACKAGED = BehaviorClassifier().model_version  # whatever version the package ships


def agent_config(tmp_path: Path, sync: SyncConfig | None, models_dir: Path | None = None) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "store_id": "s1",
            "store": {"path": tmp_path / "edge.db"},
            "sync": sync.model_dump() if sync is not None else None,
            "updates": {
                "models_dir": models_dir,
                "backoff_initial_s": 0.01,
                "backoff_max_s": 0.05,
                "download_attempts": 3,
                "swap_wait_s": 10,
            },
        }
    )


@contextmanager
def agent_side(config: AgentConfig) -> Iterator[tuple[ModelUpdater, ModelsInUse]]:
    """The updater and the scheduler's models as ``retail-edge run`` wires them, the scheduler's round (which
    takes offered models between batches) running in a thread."""
    client = CentralClient(config.sync) if config.sync is not None else None
    updater = ModelUpdater(config, client.download if client is not None else None)
    start = updater.start_models()
    models = ModelsInUse(start.detector, start.classifier, updater.swaps, updater, updater.limits)
    stop = threading.Event()

    def scheduler_rounds() -> None:
        while not stop.wait(0.01):
            models.apply_swaps({})

    thread = threading.Thread(target=scheduler_rounds, daemon=True)
    thread.start()
    try:
        yield updater, models
    finally:
        stop.set()
        thread.join(5)
        if client is not None:
            client.close()


def final_report(updater: ModelUpdater, name: str) -> tuple[InstallState, FailureCode | None, str]:
    """The latest report about model ``name``."""
    report = [r for r in updater.reports() if r.name == name][-1]
    return report.state, report.failure_code, report.message


def test_a_good_behaviour_model_is_installed_swapped_and_kept_across_a_restart(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx"))
        with agent_side(config) as (updater, models):
            assert models.classifier.model_version == PACKAGED
            updater.handle(v7)
            assert final_report(updater, BEHAVIOR_MODEL)[0] is InstallState.ACTIVE
            assert models.classifier.model_version == "behavior-classifier/7"
            assert server.requests == [(BEHAVIOR_MODEL, "7", 0)]
    manifest = Manifest(config.models_dir)
    manifest.load()
    assert manifest.active["behavior"].ref.version == "7"
    assert (config.models_dir / manifest.active["behavior"].file).read_bytes() == (tmp_path / "v7.onnx").read_bytes()
    assert not list((config.models_dir / ".staging").glob("*"))
    # restarted without central: the last active model, not the packaged one
    offline = agent_config(tmp_path, None)
    start = ModelUpdater(offline, None).start_models()
    assert start.classifier.model_version == "behavior-classifier/7"
    assert not start.behavior_fallback


def test_a_download_cut_half_way_resumes_from_its_offset(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        packaged = model_files.behavior(tmp_path / "v9.onnx", "behavior-classifier/9", padding=400_000)
        v9 = server.publish(BEHAVIOR_MODEL, "9", packaged)
        server.cuts = [100_000, 50_000]  # two cuts, each after some progress
        with agent_side(agent_config(tmp_path, sync)) as (updater, models):
            updater.handle(v9)
            assert final_report(updater, BEHAVIOR_MODEL)[0] is InstallState.ACTIVE
            assert models.classifier.model_version == "behavior-classifier/9"
        offsets = [offset for _, _, offset in server.requests]
        assert offsets[0] == 0
        assert 100_000 <= offsets[1] < packaged.stat().st_size
        assert offsets[1] + 50_000 <= offsets[2] < packaged.stat().st_size
        assert len(offsets) == 3  # resumed, never started again from the first byte


def test_a_stream_that_keeps_breaking_fails_the_install_and_keeps_the_bytes_to_resume(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        v9 = server.publish(BEHAVIOR_MODEL, "9", default_model_path())
        server.cuts = [40_000, 0, 0, 0]  # one cut with progress, then three that bring nothing
        with agent_side(agent_config(tmp_path, sync)) as (updater, models):
            updater.handle(v9)
            state, code, message = final_report(updater, BEHAVIOR_MODEL)
            assert (state, code) == (InstallState.FAILED, FailureCode.DOWNLOAD_FAILED)
            assert "kept to resume" in message
            assert models.classifier.model_version == PACKAGED
            server.cuts = []
            updater.handle(v9)  # too soon: a passing failure waits retry_failed_s
            assert len(server.requests) == 4  # one with progress, three without: then no more
        staged = list((tmp_path / "models" / ".staging").glob("*.part"))
        assert len(staged) == 1
        assert staged[0].stat().st_size >= 40_000


def bad_artifacts(tmp_path: Path, server: ModelServer) -> dict[str, tuple[object, FailureCode]]:
    good = model_files.behavior(tmp_path / "good.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return {
        "wrong SHA-256": (server.publish(BEHAVIOR_MODEL, "10", good, corrupt=True), FailureCode.SHA256_MISMATCH),
        "truncated file": (server.publish(BEHAVIOR_MODEL, "11", truncated), FailureCode.LOAD_FAILED),
        "other features": (
            server.publish(BEHAVIOR_MODEL, "12", model_files.behavior(tmp_path / "f.onnx", mode="other_features")),
            FailureCode.CONTRACT_MISMATCH,
        ),
        "wrong detector layout": (
            server.publish(DETECTOR_MODEL, "3", model_files.detector(tmp_path / "d.onnx", mode="bad_layout")),
            FailureCode.CONTRACT_MISMATCH,
        ),
        "fails the smoke test": (
            server.publish(BEHAVIOR_MODEL, "13", model_files.behavior(tmp_path / "u.onnx", mode="unnormalised")),
            FailureCode.SMOKE_TEST_FAILED,
        ),
    }


def test_bad_artifacts_never_replace_the_working_model(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx"))
        with agent_side(config) as (updater, models):
            updater.handle(v7)
            detector_before = models.detector.model_version
            manifest_before = (config.models_dir / "manifest.json").read_bytes()
            for what, (assignment, code) in bad_artifacts(tmp_path, server).items():
                updater.handle(assignment)  # type: ignore[arg-type]
                state, got, message = final_report(updater, assignment.name)  # type: ignore[attr-defined]
                assert (state, got) == (InstallState.FAILED, code), (what, message)
                assert models.classifier.model_version == "behavior-classifier/7", what
                assert models.detector.model_version == detector_before, what
                assert (config.models_dir / "manifest.json").read_bytes() == manifest_before, what
                requests = len(server.requests)
                updater.handle(assignment)  # type: ignore[arg-type]
                assert len(server.requests) == requests, f"{what}: a bad artifact is not fetched again"
        # what stays on disk: the working model only, no file or staged bytes of a refused one
        assert [p.name for p in config.models_dir.glob("*.onnx")] == [
            "behavior-classifier-7-" + v7.sha256[:12] + ".onnx"
        ]
        assert not list((config.models_dir / ".staging").glob("*.part"))


def test_version_one_again_comes_from_disk_without_a_download(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx", seed=7))
        v8 = server.publish(BEHAVIOR_MODEL, "8", model_files.behavior(tmp_path / "v8.onnx", seed=8))
        with agent_side(agent_config(tmp_path, sync)) as (updater, models):
            updater.handle(v7)
            updater.handle(v8)
            assert models.classifier.model_version == "behavior-classifier/8"
            back = type(v7)(v7.name, v7.version, v7.sha256, v7.size_bytes, "rollback-r2")
            updater.handle(back)
            assert models.classifier.model_version == "behavior-classifier/7"
            assert final_report(updater, BEHAVIOR_MODEL)[0] is InstallState.ACTIVE
        assert [(v, o) for _, v, o in server.requests] == [("7", 0), ("8", 0)]


def test_restart_with_broken_files_falls_back_step_by_step_and_says_so(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx", seed=7))
        v8 = server.publish(BEHAVIOR_MODEL, "8", model_files.behavior(tmp_path / "v8.onnx", seed=8))
        with agent_side(config) as (updater, _):
            updater.handle(v7)
            updater.handle(v8)
    manifest = Manifest(config.models_dir)
    manifest.load()
    active, previous = manifest.active["behavior"], manifest.previous["behavior"]
    (config.models_dir / active.file).write_bytes(b"flipped bits")
    offline = agent_config(tmp_path, None)
    start = ModelUpdater(offline, None).start_models()
    assert start.classifier.model_version == "behavior-classifier/7"  # the previous one
    assert not start.behavior_fallback
    (config.models_dir / previous.file).unlink()
    updater = ModelUpdater(offline, None)
    start = updater.start_models()
    assert start.classifier.model_version == PACKAGED
    assert start.behavior_fallback
    assert "could be loaded" in updater.fallback_reason


def test_an_unreadable_manifest_starts_on_the_configured_models(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": 1, "models": {"behavior": {"active": "nonsense"}}}')
    start = ModelUpdater(agent_config(tmp_path, None), None).start_models()
    assert start.classifier.model_version == PACKAGED
    assert not start.behavior_fallback  # nothing usable was wanted: the configured model is no fallback


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 96 KiB tmpfs: a model of 400 KB fills it during the download."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(folder)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_disk_that_fills_during_the_download_fails_with_disk_full(tmp_path: Path, small_disk: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync, models_dir=small_disk)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx"))
        big = server.publish(BEHAVIOR_MODEL, "9", model_files.behavior(tmp_path / "v9.onnx", padding=400_000))
        with agent_side(config) as (updater, models):
            updater.handle(v7)
            updater.handle(big)
            state, code, message = final_report(updater, BEHAVIOR_MODEL)
            assert (state, code) == (InstallState.FAILED, FailureCode.DISK_FULL), message
            assert models.classifier.model_version == "behavior-classifier/7"
        assert not list((small_disk / ".staging").glob("*.part"))  # the space is given back
        assert shutil.disk_usage(small_disk).free > 0
        start = ModelUpdater(agent_config(tmp_path, None, models_dir=small_disk), None).start_models()
        assert start.classifier.model_version == "behavior-classifier/7"


def test_a_delivered_detector_replaces_hog_with_the_registry_name(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        d1 = server.publish(DETECTOR_MODEL, "1", model_files.detector(tmp_path / "d1.onnx"))
        with agent_side(config) as (updater, models):
            assert models.detector.model_version.startswith("opencv-hog/")
            updater.handle(d1)
            assert models.detector.model_version == "person-detector/1"
    assert isinstance(build_detector(config.detector).model_version, str)  # the configured HOG is left as it was
    assert BehaviorClassifier().model_version == PACKAGED


def test_a_kept_previous_file_that_rotted_is_downloaded_again(tmp_path: Path) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx", seed=7))
        v8 = server.publish(BEHAVIOR_MODEL, "8", model_files.behavior(tmp_path / "v8.onnx", seed=8))
        with agent_side(config) as (updater, models):
            updater.handle(v7)
            updater.handle(v8)
            manifest = Manifest(config.models_dir)
            manifest.load()
            kept = config.models_dir / manifest.previous["behavior"].file
            kept.write_bytes(b"rotted")
            updater.handle(type(v7)(v7.name, v7.version, v7.sha256, v7.size_bytes, "rollback-r2"))
            assert models.classifier.model_version == "behavior-classifier/7"
        assert [(v, o) for _, v, o in server.requests] == [("7", 0), ("8", 0), ("7", 0)]
        assert kept.read_bytes() == (tmp_path / "v7.onnx").read_bytes()


def fill(path: Path) -> None:
    """Writes zeros to ``path`` until the file system is full."""
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def test_a_full_disk_when_the_manifest_is_written_keeps_the_swap_and_the_old_manifest(
    tmp_path: Path, small_disk: Path
) -> None:
    with model_server(tmp_path) as (server, sync):
        config = agent_config(tmp_path, sync, models_dir=small_disk)
        v7 = server.publish(BEHAVIOR_MODEL, "7", model_files.behavior(tmp_path / "v7.onnx", seed=7))
        v8 = server.publish(BEHAVIOR_MODEL, "8", model_files.behavior(tmp_path / "v8.onnx", seed=8))
        with agent_side(config) as (updater, models):
            updater.handle(v7)
            updater.handle(v8)
            before = (small_disk / "manifest.json").read_bytes()
            fill(small_disk / "filler")
            updater.handle(type(v7)(v7.name, v7.version, v7.sha256, v7.size_bytes, "rollback-r2"))  # from disk
            assert models.classifier.model_version == "behavior-classifier/7"  # the swap happened
            assert final_report(updater, BEHAVIOR_MODEL)[0] is InstallState.ACTIVE
        assert (small_disk / "manifest.json").read_bytes() == before  # whole, as it was: no half-written file
        assert not list(small_disk.glob(".manifest.json.tmp"))
