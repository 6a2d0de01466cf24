"""The OpenVINO detector: the same known-box graphs as the ONNX Runtime backend, boxes back in each frame's
pixels for several frame sizes, precision reported, and clear errors (missing package, device, precision)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config import parse_agent_config
from edge_agent.config.models import OpenVinoDetectorConfig
from edge_agent.detect import DetectorError, build_detector
from tests.edge_agent.detect.test_onnx_backend import (
    CENTRE_PERSON,
    FRAME_SIZES,
    expected_box,
    frame,
    make_yolo_graph,
    only_box,
)

pytest.importorskip("openvino", reason="the openvino extra is not installed")

from edge_agent.detect.openvino_backend import OpenVinoDetector, precision_name


def openvino_detector(model: Path, **overrides: object) -> OpenVinoDetector:
    config = OpenVinoDetectorConfig.model_validate({"type": "openvino", "model": model, **overrides})
    detector = build_detector(config)
    assert isinstance(detector, OpenVinoDetector)
    return detector


@pytest.mark.parametrize(("frame_w", "frame_h", "rect_w", "rect_h"), FRAME_SIZES)
def test_static_model_maps_box_back_to_frame(
    tmp_path: Path, frame_w: int, frame_h: int, rect_w: int, rect_h: int
) -> None:
    detector = openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]))

    [detections] = detector.detect([frame(frame_w, frame_h)])

    np.testing.assert_allclose(
        only_box(detections), expected_box(CENTRE_PERSON.xyxy, frame_w, frame_h, 640, 640), atol=1.0
    )
    assert detections.confidence[0] == pytest.approx(0.9)


@pytest.mark.parametrize(("frame_w", "frame_h", "rect_w", "rect_h"), FRAME_SIZES)
def test_dynamic_model_uses_rect_input_and_maps_box_back(
    tmp_path: Path, frame_w: int, frame_h: int, rect_w: int, rect_h: int
) -> None:
    detector = openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON], dynamic=True))
    image = frame(frame_w, frame_h)

    assert detector.preprocess([image]).tensor.shape == (1, 3, rect_h, rect_w)
    [detections] = detector.detect([image])

    np.testing.assert_allclose(
        only_box(detections), expected_box(CENTRE_PERSON.xyxy, frame_w, frame_h, rect_w, rect_h), atol=1.0
    )


def test_dynamic_model_detects_a_batch_of_frame_sizes_at_once(tmp_path: Path) -> None:
    detector = openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON], dynamic=True), max_batch=4)
    frames = [frame(768, 432) for _ in range(3)]

    results = detector.detect(frames)

    assert [len(d) for d in results] == [1, 1, 1]
    want = expected_box(CENTRE_PERSON.xyxy, 768, 432, 640, 384)
    for detections in results:
        np.testing.assert_allclose(only_box(detections), want, atol=1.0)


def test_the_agent_config_selects_openvino_and_reports_runtime_and_precision(tmp_path: Path) -> None:
    model = make_yolo_graph(tmp_path, [CENTRE_PERSON])
    config = parse_agent_config(f"store_id: s1\ndetector: {{type: openvino, model: {model}}}\n", "agent.yaml")

    detector = build_detector(config.detector)

    assert (detector.runtime, detector.precision) == ("openvino/CPU", "fp32")


@pytest.mark.parametrize(
    ("quantized", "float_precision", "expected"),
    [(False, "f32", "fp32"), (False, "bf16", "bf16"), (True, "f32", "int8"), (True, "bf16", "int8+bf16")],
)
def test_precision_name(quantized: bool, float_precision: str, expected: str) -> None:
    assert precision_name(quantized, float_precision) == expected


def test_bf16_where_the_cpu_has_it_and_a_clear_refusal_where_not(tmp_path: Path) -> None:
    import openvino as ov

    model = make_yolo_graph(tmp_path, [CENTRE_PERSON])
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        detector = openvino_detector(model, inference_precision="bf16")
        assert detector.precision == "bf16"
        [detections] = detector.detect([frame(640, 640)])
        np.testing.assert_allclose(only_box(detections), expected_box(CENTRE_PERSON.xyxy, 640, 640, 640, 640), atol=2)
    else:
        with pytest.raises(DetectorError, match="inference_precision bf16 is not supported"):
            openvino_detector(model, inference_precision="bf16")


def test_unknown_device_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match=r"OpenVINO device 'NPU.7' is not available; available here: .*CPU"):
        openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]), device="NPU.7")


def test_a_virtual_device_picks_among_the_real_ones(tmp_path: Path) -> None:
    detector = openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]), device="AUTO:CPU")

    assert detector.runtime == "openvino/AUTO:CPU"
    assert len(detector.detect([frame(768, 432)])[0]) == 1


def test_corrupt_model_is_refused_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00not a model")
    with pytest.raises(DetectorError, match=r"OpenVINO cannot read model .*broken\.onnx"):
        openvino_detector(bad)


def test_missing_openvino_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as on a box installed without the extra: the import fails
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(DetectorError, match=r"pip install 'retail-analytics\[openvino\]'"):
        openvino_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]))
