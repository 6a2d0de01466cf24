"""``retail-edge optimize``: INT8 quantization end to end on a small real graph, the agreement check refusing a
broken quantization, the CLI from a video file, and the real YOLOv8s person model on Intel-clip frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from edge_agent.cli import app
from edge_agent.config.models import OnnxDetectorConfig, OpenVinoDetectorConfig
from edge_agent.detect.onnx_backend import OnnxDetector
from edge_agent.optimize.agreement import AgreementThresholds
from edge_agent.optimize.frames import FrameSample
from edge_agent.optimize.quantize import (
    AgreementRefusedError,
    OptimizeError,
    QuantizeSettings,
    check,
    decode_tail,
    optimize,
    read_provenance,
    reference_config,
    sha256_of,
)
from tests.edge_agent.optimize import toy_yolo

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
REAL_MODEL = SHARED / "models" / "person-yolov8s-real.onnx"
INTEL_CLIP = SHARED / "data" / "intel-sample-videos" / "one-by-one-person-detection.mp4"


def toy_detector(tmp_path: Path) -> OnnxDetector:
    return OnnxDetector(OnnxDetectorConfig(type="onnx", model=toy_yolo.build(tmp_path / "toy-yolo.onnx")))


def toy_sample() -> FrameSample:
    return FrameSample(tuple(toy_yolo.scenes(24, seed=1)), tuple(toy_yolo.scenes(10, seed=2)))


def op_types(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_optimize_writes_a_checked_int8_model_with_its_provenance(tmp_path: Path) -> None:
    reference = toy_detector(tmp_path)
    out = tmp_path / "models" / "toy-yolo-int8.onnx"

    result = optimize(reference, toy_sample(), out)

    assert {"QuantizeLinear", "DequantizeLinear"} <= op_types(out)
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance["source_sha256"] == sha256_of(reference.config.model)
    assert (provenance["calibration_frames"], provenance["held_out_frames"]) == (24, 10)
    assert provenance["agreement"]["recall"] >= 0.95
    assert provenance["agreement"] == result.agreement.to_json()
    # the decoding tail (offsets, sigmoid, concatenation) stayed in float
    assert provenance["quantization"]["float_nodes"] == 6  # Reshape x2, Mul, Add, Sigmoid, Concat
    assert sorted(p.name for p in out.parent.iterdir()) == ["toy-yolo-int8.onnx"]  # no work files left behind
    # the agent runs it, says it is INT8, and finds the squares FP32 finds in frames it never saw
    int8 = OnnxDetector(OnnxDetectorConfig(type="onnx", model=out))
    assert int8.precision == "int8"
    assert reference.precision == "fp32"
    fresh = toy_yolo.scenes(4, seed=3, squares=6)
    agreement = check(reference, int8, fresh, AgreementThresholds())
    assert agreement.reference_boxes > 20
    assert agreement.recall >= 0.95
    assert agreement.precision >= 0.95


def test_quantizing_the_decode_tail_is_refused_by_how_much_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "toy-yolo-int8.onnx"
    reference = toy_detector(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(AgreementRefusedError) as refused:
        optimize(reference, toy_sample(), out, settings=QuantizeSettings(float_decode=False))

    # one uint8 scale over pixel boxes (0-640) and scores (0-1): every score rounds to 0, nothing is found
    assert refused.value.agreement.recall == 0.0
    assert "recall 0.000 < 0.950 (short by 0.950)" in str(refused.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no work files left behind either


def test_held_out_frames_without_detections_cannot_vouch_for_a_model(tmp_path: Path) -> None:
    empty = tuple(toy_yolo.scenes(6, seed=4, squares=0))
    out = tmp_path / "toy-yolo-int8.onnx"

    with pytest.raises(AgreementRefusedError, match=r"only 0 reference detection\(s\) on 6 held-out frame\(s\)"):
        optimize(toy_detector(tmp_path), FrameSample(tuple(toy_yolo.scenes(8, seed=1)), empty), out)
    assert not out.exists()


def test_output_may_not_overwrite_the_source(tmp_path: Path) -> None:
    reference = toy_detector(tmp_path)
    with pytest.raises(OptimizeError, match="would overwrite the source model"):
        optimize(reference, toy_sample(), reference.config.model)


@pytest.mark.parametrize(
    ("detector", "expected"),
    [
        ({"type": "onnx", "model": "m.onnx", "confidence": 0.4}, "onnx"),
        ({"type": "openvino", "model": "m.onnx", "device": "GPU"}, "onnx"),
        ({"type": "openvino", "model": "m.xml"}, "needs a YOLO detector in an ONNX file"),
        ({"type": "hog"}, "the configuration has type 'hog'"),
    ],
)
def test_reference_config(detector: dict[str, object], expected: str) -> None:
    from pydantic import TypeAdapter

    from edge_agent.config.models import DetectorConfig

    config = TypeAdapter(DetectorConfig).validate_python(detector)
    if expected == "onnx":
        ref = reference_config(config)
        assert isinstance(ref, OnnxDetectorConfig)
        assert ref.providers == ["CPUExecutionProvider"]
        assert ref.confidence == getattr(config, "confidence", None)
    else:
        with pytest.raises(OptimizeError, match=expected):
            reference_config(config)
    assert not isinstance(config, OpenVinoDetectorConfig) or config.device


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (toy_yolo.SIZE, toy_yolo.SIZE))
    for image in frames:
        writer.write(image)
    writer.release()
    return path


def test_cli_optimizes_from_a_video_file_and_the_result_is_a_usable_detector(tmp_path: Path) -> None:
    model = toy_yolo.build(tmp_path / "toy-yolo.onnx")
    video = write_video(tmp_path / "store.avi", toy_yolo.scenes(40, seed=5, squares=4))
    config = tmp_path / "agent.yaml"
    config.write_text(f"store_id: s1\ndetector: {{type: onnx, model: {model}}}\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["optimize", "-c", str(config), "--video", str(video), "--frames", "40"])

    assert result.exit_code == 0, result.output
    out = tmp_path / "toy-yolo-int8.onnx"
    assert "30 calibration and 10 held-out frame(s)" in result.output
    assert f"written: {out}" in result.output
    provenance = read_provenance(out)
    assert provenance is not None
    assert provenance["calibration_frames"] == 30
    check_cfg = tmp_path / "int8.yaml"
    check_cfg.write_text(f"store_id: s1\ndetector: {{type: onnx, model: {out}}}\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["check-config", str(check_cfg)]).exit_code == 0


@pytest.mark.parametrize(
    ("yaml_detector", "args", "message"),
    [
        ("{type: hog}", [], "the configuration has type 'hog'"),
        ("{type: onnx, model: MODEL}", ["--camera", "nope"], "no camera nope"),
    ],
)
def test_cli_refuses_what_it_cannot_optimize(tmp_path: Path, yaml_detector: str, args: list[str], message: str) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(f"store_id: s1\ndetector: {yaml_detector.replace('MODEL', str(tmp_path / 'm.onnx'))}\n")

    result = CliRunner().invoke(app, ["optimize", "-c", str(config), *args])

    assert result.exit_code == 2
    assert message in result.output


def test_decode_tail_of_an_ultralytics_export_is_decoding_only() -> None:
    path = SHARED / "models" / "yolov8n-random-640.onnx"
    if not path.exists():
        pytest.skip(f"{path} is absent (see ../shared/models/SOURCE.md)")
    model = onnx.load(str(path))
    tail = decode_tail(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    convs = [name for name in tail if ops[name] == "Conv"]
    # DFL's fixed convolution over the softmax is decoding; every learned convolution is quantized
    assert convs == ["/model.22/dfl/conv/Conv"]
    assert {"Sigmoid", "Softmax", "Concat"} <= {ops[name] for name in tail}
    assert all(name.startswith("/model.22/") for name in tail)


def test_real_person_model_int8_agrees_with_fp32_on_intel_clip_frames(tmp_path: Path) -> None:
    if not (REAL_MODEL.exists() and INTEL_CLIP.exists()):
        pytest.skip(f"needs {REAL_MODEL} and {INTEL_CLIP} (../shared, see their SOURCE.md)")
    reference = OnnxDetector(
        OnnxDetectorConfig(type="onnx", model=REAL_MODEL, classes=[0, 1], confidence=0.4, threads=2)
    )
    # the first 36 s, one frame in 30: the first visitors walk in, stand at the table and leave (12 frames: the
    # real model costs a quarter of a second a frame here, calibration about twice that)
    frames = _clip_frames(360, every=30)
    taken = FrameSample(tuple(frames[0::2]), tuple(frames[1::2]))
    thresholds = AgreementThresholds(min_reference_boxes=3)

    result = optimize(reference, taken, tmp_path / "person-yolov8s-real-int8.onnx", thresholds)

    a = result.agreement
    assert a.reference_boxes >= 3
    assert (a.recall, a.precision) >= (0.95, 0.95)
    assert a.mean_iou >= 0.90
    try:
        from edge_agent.detect.openvino_backend import OpenVinoDetector
    except ImportError:
        return
    ov = OpenVinoDetector(
        OpenVinoDetectorConfig(type="openvino", model=result.path, classes=[0, 1], confidence=0.4, threads=2)
    )
    assert ov.precision == "int8"
    assert check(reference, ov, taken.held_out, thresholds).shortfalls(thresholds) == []


def _clip_frames(count: int, every: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(INTEL_CLIP))
    out = []
    for i in range(count):
        ok, image = cap.read()
        if not ok:
            break
        if i % every == 0:
            out.append(image)
    cap.release()
    return out
