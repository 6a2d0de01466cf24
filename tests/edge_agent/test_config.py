"""Agent configuration: strict, described, and errors that name the YAML path and line."""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import annotated_types
import pytest
from pydantic import BaseModel

from edge_agent.cli import demo_config
from edge_agent.config import AgentConfig, ConfigError, parse_agent_config
from edge_agent.config.models import HogDetectorConfig, OnnxDetectorConfig
from retail_common.config import StrictModel

VALID = """\
store_id: store-042
detector:
  type: onnx
  model: /models/yolov8n.onnx
cameras:
  - id: door
    source: rtsp://10.0.0.5/stream1
    zones:
      - id: entrance
        polygon: [[0, 0], [100, 0], [100, 100]]
    lines:
      - id: threshold
        start: [0, 50]
        end: [100, 50]
"""


def test_valid_file_fills_defaults() -> None:
    cfg = parse_agent_config(VALID)
    assert isinstance(cfg.detector, OnnxDetectorConfig)
    assert cfg.detector.imgsz == 640
    assert cfg.cameras[0].zones[0].id == "entrance"
    assert cfg.tracker.lost_track_seconds > 0


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("store_id: s\nbogus: 1\n", "line 2: bogus: Extra inputs are not permitted"),
        ("store_id: s\ndetector:\n  type: onnx\n", "line 3: detector.model: Field required"),
        ("store_id: s\ndetector:\n  type: yolo\n", "detector: Input tag 'yolo' found using 'type'"),
        (
            "store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n"
            "    zones:\n      - id: z\n        polygon: [[0, 0]]\n",
            "line 7: cameras[0].zones[0].polygon: List should have at least 3 items",
        ),
        ("store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n    fps: -3\n", "line 5: cameras[0].fps"),
        ("store_id: s\ncameras:\n  - {id: c, source: a}\n  - {id: c, source: b}\n", "duplicate camera id(s): c"),
        ("store_id: s\ndetector:\n  type: hog\n  scale: 0.4\n  window: 3\n", "line 5: detector.window"),
        ("store_id: 'has space'\n", "line 1: store_id: String should match pattern"),
        ("- just\n- a list\n", "expected a mapping at the top"),
        ("store_id: [unclosed\n", "not valid YAML"),
        (  # a bow tie: which part is "inside" would depend on the rule used
            "store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n    zones:\n"
            "      - id: z\n        polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]\n",
            "line 6: cameras[0].zones[0]: Value error, zone 'z': edges 0-1 and 2-3 cross",
        ),
        (
            "store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n    zones:\n"
            "      - id: z\n        polygon: [[0, 0], [5, 5], [10, 10]]\n",
            "zone 'z': the polygon has no area",
        ),
        (
            "store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n    zones:\n"
            "      - id: z\n        polygon: [[0, 0], [.inf, 0], [0, 10]]\n",
            "line 7: cameras[0].zones[0].polygon[1][0]: Input should be a finite number",
        ),
        ("store_id: s\nruntime:\n  idle_after_s: 1e308\n", "line 3: runtime.idle_after_s: Input should be less than"),
        ("store_id: s\nruntime:\n  retention_days: .nan\n", "runtime.retention_days: Input should be a finite number"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply to be a configuration"),
    ],
)
def test_invalid_files_name_path_and_line(yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent_config(yaml_text, "agent.yaml")
    assert expected in str(info.value)
    assert "agent.yaml" in str(info.value)


def test_every_field_is_described() -> None:
    undocumented = []
    todo: list[type[StrictModel]] = [AgentConfig]
    seen: set[type] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if name not in ("type", "id") and not field.description:
                undocumented.append(f"{model.__name__}.{name}")
            for arg in getattr(field.annotation, "__args__", ()) or (field.annotation,):
                for inner in getattr(arg, "__args__", ()) or (arg,):
                    if isinstance(inner, type) and issubclass(inner, StrictModel):
                        todo.append(inner)
    assert not undocumented
    names = {m.__name__ for m in seen}
    assert {"ZoneConfig", "LineConfig", "OnnxDetectorConfig", "HomographyCalibration"} <= names


def test_embedded_demo_config_is_valid() -> None:
    cfg = demo_config()
    assert isinstance(cfg.detector, HogDetectorConfig)
    assert [z.id for z in cfg.cameras[0].zones] == ["table"]


def test_check_config_cli_exits_non_zero_naming_each_error(tmp_path: Path) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_text("store_id: s\ncameras:\n  - id: c\n    source: a.mp4\n    type: usb\n    zones: {}\n")
    run = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(bad)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "line 5: cameras[0].type: Extra inputs are not permitted" in run.stderr
    assert "line 6: cameras[0].zones" in run.stderr
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    ok = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(good)], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid (1 camera(s), detector onnx)" in ok.stdout


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "cannot read file" in run.stderr


def test_every_number_of_every_configuration_has_an_upper_bound() -> None:
    """A number that validates must not crash ``run`` later (a wait of 1e308 seconds, a budget past any disk)."""
    from central.config import CentralConfig

    def annotations(t: object) -> Iterator[object]:
        yield t
        for arg in typing.get_args(t):
            yield from annotations(arg)

    unbounded, seen, todo = [], set(), [AgentConfig, CentralConfig]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            kinds = set(annotations(field.annotation))
            todo += [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
            scalar = field.annotation in (int, float, int | None, float | None)
            if scalar and not any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in field.metadata):
                unbounded.append(f"{model.__name__}.{name}")
    assert unbounded == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"store_id: s\xff1\n", "line 1: <root>: not UTF-8 text (byte 0xff at offset 11)"),
        (b"store_id: s\n" + b"# padding\n" * 120_000, "larger than 1024 KiB"),
    ],
)
def test_a_file_that_is_no_configuration_is_a_clear_error(tmp_path: Path, content: bytes, expected: str) -> None:
    bad = tmp_path / "agent.yaml"
    bad.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (Path("/dev/zero"), "is not a regular file"),
        ("", "is empty"),
        ("x" * 5000, "larger than 4096 bytes"),
    ],
)
def test_check_config_reads_the_token_file_as_run_would(tmp_path: Path, token: Path | str, expected: str) -> None:
    if isinstance(token, str):
        path = tmp_path / "token"
        path.write_text(token)
    else:
        path = token
    config = tmp_path / "agent.yaml"
    config.write_text(f"store_id: s1\nsync:\n  target: 127.0.0.1:50051\n  token_file: {path}\n")
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "sync.token_file" in done.stderr
    assert expected in done.stderr


@pytest.mark.parametrize(
    ("yaml_text", "agent_id"),
    [
        ("store_id: store-042\n", "edge-store-042"),
        ("store_id: s1\nagent_id: till-pc\n", "till-pc"),
        (f"store_id: {'s' * 59}\n", f"edge-{'s' * 59}"),  # 64 characters: still fits
        (f"store_id: {'s' * 60}\n", "s" * 60),  # 'edge-' would pass 64: the store id itself
    ],
)
def test_default_agent_id_is_unique_per_store(yaml_text: str, agent_id: str) -> None:
    """Central knows agents by store and id; an id derived from the store also keeps logs and the fleet page
    of a chain, whose stores all run a default agent, telling them apart."""
    assert parse_agent_config(yaml_text).agent_id == agent_id


def test_missing_store_id_is_the_one_error_not_the_agent_id() -> None:
    with pytest.raises(ConfigError) as info:
        parse_agent_config("cameras: []\n", "agent.yaml")
    assert "store_id: Field required" in str(info.value)
    assert "agent_id" not in str(info.value)
