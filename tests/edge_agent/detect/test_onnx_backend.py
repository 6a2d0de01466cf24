"""The ONNX Runtime detector: letterbox geometry, filtering, NMS, batching and load errors.

Most tests run tiny ONNX graphs built here whose output is a constant YOLOv8-layout
tensor ``(batch, 4 + classes, anchors)`` holding known boxes, so every expected box
in the original frame can be worked out by hand from the letterbox rule. The real
Ultralytics exports in ``../shared/models`` (random weights) check the layout only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import supervision as sv
from onnx import TensorProto, helper, numpy_helper

from edge_agent.config.models import OnnxDetectorConfig
from edge_agent.detect import DetectorError, build_detector
from edge_agent.detect.onnx_backend import OnnxDetector, choose_providers
from edge_agent.detect.yolo_common import YoloBatch, rect_input_size

SHARED_MODELS = Path(__file__).resolve().parents[3] / ".." / "shared" / "models"

PERSON, BAG, CAR = 0, 1, 2
NUM_CLASSES = 3
NUM_ANCHORS = 16
STATIC_INPUT = (1, 3, 640, 640)
DYNAMIC_INPUT = ("batch", 3, "height", "width")

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


# --- fake YOLO graphs -------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """One anchor of the fake network output: centre and size in network-input pixels, class scores."""

    cx: float
    cy: float
    w: float
    h: float
    cls: int = PERSON
    score: float = 0.9
    runner_up: tuple[int, float] | None = None  # a second, lower class score on the same anchor

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return self.cx - self.w / 2, self.cy - self.h / 2, self.cx + self.w / 2, self.cy + self.h / 2


def yolo_output(boxes: list[Box], num_classes: int = NUM_CLASSES, num_anchors: int = NUM_ANCHORS) -> np.ndarray:
    """A ``(1, 4 + classes, anchors)`` output: the first anchors hold ``boxes``, the rest are zeros."""
    out = np.zeros((1, 4 + num_classes, num_anchors), dtype=np.float32)
    for a, box in enumerate(boxes):
        out[0, :4, a] = box.cx, box.cy, box.w, box.h
        out[0, 4 + box.cls, a] = box.score
        if box.runner_up is not None:
            out[0, 4 + box.runner_up[0], a] = box.runner_up[1]
    return out


def save_graph(
    path: Path,
    constant: np.ndarray,
    input_shape: tuple[int | str, ...] = STATIC_INPUT,
    output_shape: tuple[int | str, ...] | None = None,
) -> Path:
    """An ONNX model whose output is ``constant`` repeated once per image of its ``images`` input.

    The output ignores the pixel values but follows the input's batch size, like a real detector.
    """
    const = helper.make_node("Constant", [], ["yolo"], value=numpy_helper.from_array(constant, "yolo_value"))
    batch = helper.make_node("Shape", ["images"], ["batch"], start=0, end=1)
    ones = helper.make_node(
        "Constant", [], ["ones"], value=numpy_helper.from_array(np.ones(constant.ndim - 1, np.int64), "ones_value")
    )
    repeats = helper.make_node("Concat", ["batch", "ones"], ["repeats"], axis=0)
    tile = helper.make_node("Tile", ["yolo", "repeats"], ["output0"])
    if output_shape is None:
        output_shape = (input_shape[0], *constant.shape[1:])
    graph = helper.make_graph(
        [const, batch, ones, repeats, tile],
        "fake_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output_shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_yolo_graph(tmp_path: Path, boxes: list[Box], *, dynamic: bool = False) -> Path:
    """A fake Ultralytics YOLOv8 export: static 1x3x640x640 input, or dynamic batch/height/width."""
    name = "fake-dynamic.onnx" if dynamic else "fake-640.onnx"
    return save_graph(tmp_path / name, yolo_output(boxes), DYNAMIC_INPUT if dynamic else STATIC_INPUT)


def onnx_detector(model: Path, **overrides: object) -> OnnxDetector:
    config = OnnxDetectorConfig.model_validate({"type": "onnx", "model": model, **overrides})
    detector = build_detector(config)
    assert isinstance(detector, OnnxDetector)
    return detector


# --- expected geometry, worked out independently of the implementation -------------------


def expected_box(
    net_xyxy: tuple[float, float, float, float], frame_w: int, frame_h: int, in_w: int, in_h: int
) -> np.ndarray:
    """Where a network-input box lies in the original frame (Ultralytics' letterbox rule).

    The frame is scaled by ``min(in_w / frame_w, in_h / frame_h)`` and centred; an odd
    leftover pixel goes right / bottom (Ultralytics rounds ``pad - 0.1``). Boxes are then
    clipped to the frame.
    """
    scale = min(in_w / frame_w, in_h / frame_h)
    left = round((in_w - round(frame_w * scale)) / 2 - 0.1)
    top = round((in_h - round(frame_h * scale)) / 2 - 0.1)
    x1, y1, x2, y2 = net_xyxy
    box = np.array([(x1 - left) / scale, (y1 - top) / scale, (x2 - left) / scale, (y2 - top) / scale])
    return np.clip(box, 0, [frame_w, frame_h, frame_w, frame_h])


def frame(width: int, height: int) -> np.ndarray:
    """A BGR frame with some texture (the fake models ignore pixel values)."""
    rng = np.random.default_rng(width * 10_000 + height)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def only_box(detections: sv.Detections) -> np.ndarray:
    assert len(detections) == 1, f"expected one detection, got {len(detections)}: {detections.xyxy}"
    return detections.xyxy[0]


# A person in the middle of the network input: inside the picture (not the grey padding) for
# every frame shape below, with both the square 640x640 input and the rect inputs.
CENTRE_PERSON = Box(cx=250, cy=250, w=160, h=180, score=0.9)

# (frame w, frame h, rect input w, rect input h) with imgsz 640: long side 640, short side
# scaled and rounded up to a multiple of 32. Worked out by hand, e.g. 768x432 -> 640x360 -> 640x384.
FRAME_SIZES = [
    pytest.param(640, 640, 640, 640, id="640x640-square"),
    pytest.param(768, 432, 640, 384, id="768x432-landscape"),
    pytest.param(432, 768, 384, 640, id="432x768-portrait"),
    pytest.param(1280, 720, 640, 384, id="1280x720-downscaled"),
    pytest.param(300, 500, 384, 640, id="300x500-upscaled"),
    pytest.param(500, 301, 640, 416, id="500x301-odd-padding"),  # 385 px tall in 416: 15.5 px pads
]


# --- letterbox geometry -----------------------------------------------------------------


@pytest.mark.parametrize(("frame_w", "frame_h", "rect_w", "rect_h"), FRAME_SIZES)
def test_static_model_maps_box_back_to_frame(
    tmp_path: Path, frame_w: int, frame_h: int, rect_w: int, rect_h: int
) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]))

    [detections] = detector.detect([frame(frame_w, frame_h)])

    want = expected_box(CENTRE_PERSON.xyxy, frame_w, frame_h, 640, 640)
    np.testing.assert_allclose(only_box(detections), want, atol=1.0)
    assert detections.class_id.tolist() == [PERSON]
    assert detections.confidence[0] == pytest.approx(0.9)


@pytest.mark.parametrize(("frame_w", "frame_h", "rect_w", "rect_h"), FRAME_SIZES)
def test_dynamic_model_uses_rect_input_and_maps_box_back(
    tmp_path: Path, frame_w: int, frame_h: int, rect_w: int, rect_h: int
) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON], dynamic=True))
    image = frame(frame_w, frame_h)

    assert detector.input_size(frame_w, frame_h) == (rect_w, rect_h)
    assert detector.preprocess([image]).tensor.shape == (1, 3, rect_h, rect_w)
    [detections] = detector.detect([image])

    want = expected_box(CENTRE_PERSON.xyxy, frame_w, frame_h, rect_w, rect_h)
    np.testing.assert_allclose(only_box(detections), want, atol=1.0)


@pytest.mark.parametrize(
    ("frame_w", "frame_h", "imgsz", "expected"),
    [
        (768, 432, 640, (640, 384)),  # 640x360 rounded up to stride 32
        (432, 768, 640, (384, 640)),
        (1280, 720, 320, (320, 192)),  # 320x180 -> 320x192
        (640, 640, 640, (640, 640)),
        (100, 50, 640, (640, 320)),  # small frames are scaled up, like Ultralytics
        (4000, 10, 640, (640, 32)),  # never below one stride
    ],
)
def test_rect_input_size(frame_w: int, frame_h: int, imgsz: int, expected: tuple[int, int]) -> None:
    assert rect_input_size(frame_w, frame_h, imgsz) == expected


def test_dynamic_model_without_rect_uses_square_input(tmp_path: Path) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON], dynamic=True), rect=False, imgsz=320)

    assert detector.input_size(768, 432) == (320, 320)
    [detections] = detector.detect([frame(768, 432)])
    want = expected_box(CENTRE_PERSON.xyxy, 768, 432, 320, 320)
    np.testing.assert_allclose(only_box(detections), want, atol=1.0)


def test_box_reaching_into_padding_is_clipped_to_frame(tmp_path: Path) -> None:
    # 1280x720 in 640x640: the picture spans y 140..500; this box starts in the top grey bar
    # and runs past the right edge of the network input.
    box = Box(cx=600, cy=150, w=120, h=100)
    detector = onnx_detector(make_yolo_graph(tmp_path, [box]))

    [detections] = detector.detect([frame(1280, 720)])

    np.testing.assert_allclose(only_box(detections), [1080, 0, 1280, 120], atol=1.0)


# --- confidence, classes and NMS ---------------------------------------------------------

# On a 640x640 frame with the static model the network box is the frame box.
A = Box(cx=200, cy=200, w=100, h=200, score=0.9)


@pytest.mark.parametrize(
    ("boxes", "settings", "expected"),
    [
        pytest.param(
            [A, Box(cx=205, cy=205, w=100, h=200, score=0.8)],
            {},
            [(A.xyxy, PERSON, 0.9)],
            id="overlapping-same-class-keeps-higher-score",
        ),
        pytest.param(
            [Box(cx=205, cy=205, w=100, h=200, score=0.8), A],
            {},
            [(A.xyxy, PERSON, 0.9)],
            id="overlapping-same-class-order-does-not-matter",
        ),
        pytest.param(
            [A, Box(cx=500, cy=200, w=100, h=200, score=0.7)],
            {},
            [(A.xyxy, PERSON, 0.9), ((450, 100, 550, 300), PERSON, 0.7)],
            id="separate-people-both-kept",
        ),
        pytest.param(
            [A, Box(cx=200, cy=200, w=100, h=200, score=0.4)],
            {"nms_iou": 1.0},
            [(A.xyxy, PERSON, 0.9), (A.xyxy, PERSON, 0.4)],
            id="nms-iou-1-keeps-duplicates",
        ),
        pytest.param(
            [Box(cx=400, cy=300, w=200, h=120, cls=CAR, score=0.95)],
            {"classes": [PERSON]},
            [],
            id="unwanted-class-dropped",
        ),
        pytest.param(
            [Box(cx=400, cy=300, w=200, h=120, cls=CAR, score=0.95, runner_up=(PERSON, 0.6))],
            {"classes": [PERSON]},
            [],
            id="best-class-unwanted-not-relabelled",
        ),
        pytest.param(
            [Box(cx=200, cy=200, w=100, h=200, score=0.2)],
            {"confidence": 0.25},
            [],
            id="below-confidence-dropped",
        ),
        pytest.param(
            [Box(cx=200, cy=200, w=100, h=200, score=0.3)],
            {"confidence": 0.25},
            [(A.xyxy, PERSON, 0.3)],
            id="above-confidence-kept",
        ),
        pytest.param(
            [A, Box(cx=205, cy=205, w=100, h=200, cls=CAR, score=0.8)],
            {"classes": [PERSON, CAR]},
            [(A.xyxy, PERSON, 0.9), ((155, 105, 255, 305), CAR, 0.8)],
            id="class-aware-nms-keeps-both-classes",
        ),
        pytest.param(
            [A, Box(cx=205, cy=205, w=100, h=200, cls=CAR, score=0.8)],
            {"classes": [CAR]},
            [((155, 105, 255, 305), CAR, 0.8)],
            id="only-wanted-class-survives",
        ),
    ],
)
def test_filtering_and_nms(
    tmp_path: Path,
    boxes: list[Box],
    settings: dict[str, object],
    expected: list[tuple[tuple[float, ...], int, float]],
) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, boxes), **settings)

    [detections] = detector.detect([frame(640, 640)])

    got = sorted(
        zip(detections.xyxy.tolist(), detections.class_id.tolist(), detections.confidence.tolist(), strict=True)
    )
    want = sorted((list(map(float, xyxy)), cls, score) for xyxy, cls, score in expected)
    assert len(got) == len(want), f"got {got}, expected {want}"
    for (got_xyxy, got_cls, got_score), (want_xyxy, want_cls, want_score) in zip(got, want, strict=True):
        np.testing.assert_allclose(got_xyxy, want_xyxy, atol=1.0)
        assert got_cls == want_cls
        assert got_score == pytest.approx(want_score)


def test_nothing_found_gives_empty_detections(tmp_path: Path) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, []))

    [detections] = detector.detect([frame(768, 432)])

    assert len(detections) == 0
    assert detections.xyxy.shape == (0, 4)


def test_score_equal_to_confidence_is_kept(tmp_path: Path) -> None:
    # the config documents `confidence` as the "minimum class score kept"
    detector = onnx_detector(make_yolo_graph(tmp_path, [Box(cx=200, cy=200, w=100, h=200, score=0.5)]), confidence=0.5)

    [detections] = detector.detect([frame(640, 640)])

    assert len(detections) == 1


# --- batching ------------------------------------------------------------------------------


class InferSpy:
    """Wraps ``detector.infer`` to record the shape of every batch sent to the network."""

    def __init__(self, detector: OnnxDetector) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self._infer = detector.infer
        detector.infer = self  # type: ignore[method-assign]

    def __call__(self, batch: YoloBatch) -> np.ndarray:
        self.shapes.append(batch.tensor.shape)
        return self._infer(batch)


def test_dynamic_model_detects_batch_in_one_inference(tmp_path: Path) -> None:
    second = Box(cx=500, cy=300, w=60, h=120, score=0.7)
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON, second], dynamic=True))
    spy = InferSpy(detector)

    results = detector.detect([frame(768, 432)] * 3)

    assert spy.shapes == [(3, 3, 384, 640)]
    assert len(results) == 3
    want = [expected_box(b.xyxy, 768, 432, 640, 384) for b in (CENTRE_PERSON, second)]
    for detections in results:
        order = np.argsort(-detections.confidence)
        np.testing.assert_allclose(detections.xyxy[order], want, atol=1.0)
        assert detections.confidence[order] == pytest.approx([0.9, 0.7])


def test_dynamic_model_splits_frames_by_max_batch(tmp_path: Path) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON], dynamic=True), max_batch=2)
    spy = InferSpy(detector)

    results = detector.detect([frame(1280, 720)] * 3)

    assert detector.max_batch == 2
    assert [s[0] for s in spy.shapes] == [2, 1]
    want = expected_box(CENTRE_PERSON.xyxy, 1280, 720, 640, 384)
    assert len(results) == 3
    for detections in results:
        np.testing.assert_allclose(only_box(detections), want, atol=1.0)


def test_static_batch_1_model_runs_one_frame_at_a_time(tmp_path: Path) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]), max_batch=8)
    spy = InferSpy(detector)

    results = detector.detect([frame(640, 640), frame(768, 432), frame(432, 768)])

    assert detector.max_batch == 1  # the model's own batch size wins over the config
    assert spy.shapes == [(1, 3, 640, 640)] * 3
    for (w, h), detections in zip([(640, 640), (768, 432), (432, 768)], results, strict=True):
        np.testing.assert_allclose(only_box(detections), expected_box(CENTRE_PERSON.xyxy, w, h, 640, 640), atol=1.0)


def test_fixed_batch_model_gets_padded_batch(tmp_path: Path) -> None:
    path = save_graph(tmp_path / "batch4.onnx", yolo_output([CENTRE_PERSON]), (4, 3, 640, 640))
    detector = onnx_detector(path)
    spy = InferSpy(detector)

    results = detector.detect([frame(640, 640)] * 5)

    assert detector.max_batch == 4
    assert spy.shapes == [(4, 3, 640, 640)] * 2  # the second call holds 1 frame and 3 empty ones
    assert len(results) == 5
    assert all(len(d) == 1 for d in results)


def test_dynamic_batch_fixed_size_model_is_not_padded(tmp_path: Path) -> None:
    path = save_graph(tmp_path / "dynbatch.onnx", yolo_output([CENTRE_PERSON]), ("batch", 3, 640, 640))
    detector = onnx_detector(path, max_batch=8)
    spy = InferSpy(detector)

    detector.detect([frame(640, 640)])

    assert spy.shapes == [(1, 3, 640, 640)]


def test_fixed_batch_dynamic_size_model_loads(tmp_path: Path) -> None:
    path = save_graph(tmp_path / "batch4-dynsize.onnx", yolo_output([CENTRE_PERSON]), (4, 3, "height", "width"))
    detector = onnx_detector(path)

    results = detector.detect([frame(768, 432)])

    assert detector.max_batch == 4
    assert len(results) == 1


# --- load errors ---------------------------------------------------------------------------


def write_random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def transposed_output(tmp_path: Path) -> Path:
    # (1, anchors, 4+classes), like an export post-processed with a transpose
    return save_graph(tmp_path / "transposed.onnx", yolo_output([CENTRE_PERSON]).transpose(0, 2, 1))


def flat_output(tmp_path: Path) -> Path:
    # (1, 6): already-decoded detections (x1, y1, x2, y2, score, class), e.g. an NMS-included export
    return save_graph(tmp_path / "flat.onnx", np.zeros((1, 6), np.float32))


def transposed_dynamic_output(tmp_path: Path) -> Path:
    # declared (batch, anchors, 4+classes) with a symbolic anchor count: only the warm-up can tell
    out = yolo_output([CENTRE_PERSON]).transpose(0, 2, 1)
    return save_graph(tmp_path / "late.onnx", out, DYNAMIC_INPUT, ("batch", "anchors", 4 + NUM_CLASSES))


def rank3_input(tmp_path: Path) -> Path:
    return save_graph(tmp_path / "rank3.onnx", yolo_output([CENTRE_PERSON]), (1, 3, 640))


def grey_input(tmp_path: Path) -> Path:
    return save_graph(tmp_path / "grey.onnx", yolo_output([CENTRE_PERSON]), (1, 1, 640, 640))


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        pytest.param(lambda tmp: tmp / "missing.onnx", r"ONNX model file not found: .*missing\.onnx", id="missing"),
        pytest.param(lambda tmp: tmp, r"ONNX model file is not a file", id="directory"),
        pytest.param(write_random_bytes, r"cannot load ONNX model .*garbage\.onnx", id="random-bytes"),
        pytest.param(transposed_output, r"unexpected output shape \(1, 16, 7\)", id="transposed-output"),
        pytest.param(flat_output, r"unexpected output shape \(1, 6\)", id="2d-output"),
        pytest.param(transposed_dynamic_output, r"unexpected output shape \(1, 16, 7\)", id="caught-at-warm-up"),
        pytest.param(rank3_input, r"unexpected input\(s\) \[\(1, 3, 640\)\]", id="rank-3-input"),
        pytest.param(grey_input, r"unexpected input\(s\) \[\(1, 1, 640, 640\)\]", id="one-channel-input"),
    ],
)
def test_bad_model_is_rejected_with_reason(tmp_path: Path, make_model: Callable[[Path], Path], message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        onnx_detector(make_model(tmp_path))


def test_unknown_provider_names_available_ones(tmp_path: Path) -> None:
    model = make_yolo_graph(tmp_path, [CENTRE_PERSON])

    with pytest.raises(DetectorError, match=r"not available: FooExecutionProvider; available here: .*CPUExecution"):
        onnx_detector(model, providers=["FooExecutionProvider"])


def test_explicit_cpu_provider_is_used(tmp_path: Path) -> None:
    detector = onnx_detector(make_yolo_graph(tmp_path, [CENTRE_PERSON]), providers=[CPU], threads=1)

    assert detector.session.get_providers() == [CPU]


# --- provider choice -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "available", "chosen"),
    [
        (None, [CPU], [CPU]),
        (None, [CPU, CUDA, TRT], [TRT, CUDA, CPU]),  # preferred order, not ONNX Runtime's listing order
        (None, ["AzureExecutionProvider", CUDA, CPU], [CUDA, CPU]),  # only the preferred ones
        (None, [TRT, CPU], [TRT, CPU]),
        ([], [CUDA, CPU], [CUDA, CPU]),  # an empty list means "default"
        (None, ["OpenVINOExecutionProvider"], ["OpenVINOExecutionProvider"]),  # none preferred: take what exists
        ([CPU], [TRT, CUDA, CPU], [CPU]),  # a request is taken as is
        ([CPU, CUDA], [TRT, CUDA, CPU], [CPU, CUDA]),  # in the requested order
    ],
)
def test_choose_providers(requested: list[str] | None, available: list[str], chosen: list[str]) -> None:
    assert choose_providers(requested, available) == chosen


def test_tensorrt_is_skipped_by_default_where_its_runtime_is_missing() -> None:
    assert choose_providers(None, [TRT, CUDA, CPU], tensorrt_present=False) == [CUDA, CPU]
    assert choose_providers([TRT, CPU], [TRT, CUDA, CPU], tensorrt_present=False) == [TRT, CPU]  # asked for: tried


def test_choose_providers_rejects_missing_request() -> None:
    with pytest.raises(DetectorError, match=rf"not available: {TRT}, {CUDA}; available here: {CPU}$"):
        choose_providers([TRT, CUDA, CPU], [CPU])


# --- real Ultralytics exports (random weights: layout and bounds only) -------------------------


def shared_model(name: str) -> Path:
    path = SHARED_MODELS / name
    if not path.is_file():
        pytest.skip(f"real YOLOv8n export not available: {path.resolve()} (no ../shared/models beside the checkout)")
    return path


def assert_within_frame(detections: sv.Detections, width: int, height: int, classes: Iterable[int] = (PERSON,)) -> None:
    xyxy = detections.xyxy
    assert xyxy.shape == (len(detections), 4)
    assert np.all(xyxy >= 0)
    assert np.all(xyxy[:, [0, 2]] <= width)
    assert np.all(xyxy[:, [1, 3]] <= height)
    assert np.all(xyxy[:, 2] >= xyxy[:, 0])
    assert np.all(xyxy[:, 3] >= xyxy[:, 1])
    assert set(detections.class_id.tolist()) <= set(classes)


def test_real_static_export_loads_and_detects() -> None:
    model = shared_model("yolov8n-random-640.onnx")
    detector = onnx_detector(model)

    assert detector.static_size == (640, 640)
    assert detector.max_batch == 1
    assert detector.input_size(768, 432) == (640, 640)
    assert detector.model_version.startswith("yolov8n-random-640/")
    results = detector.detect([frame(768, 432)])
    assert len(results) == 1
    assert isinstance(results[0], sv.Detections)
    assert_within_frame(results[0], 768, 432)


def test_real_dynamic_export_loads_and_detects() -> None:
    model = shared_model("yolov8n-random-dynamic.onnx")
    config = OnnxDetectorConfig(type="onnx", model=model, max_batch=4)
    detector = build_detector(config)
    assert isinstance(detector, OnnxDetector)

    assert detector.static_size is None
    assert detector.max_batch == config.max_batch
    assert detector.input_size(768, 432) == (640, 384)
    raw = detector.infer(detector.preprocess([frame(768, 432)] * 2))
    assert raw.shape == (2, 84, 5040)  # (640/8 * 384/8) + (640/16 * 384/16) + (640/32 * 384/32) anchors
    results = detector.detect([frame(768, 432)])
    assert len(results) == 1
    assert isinstance(results[0], sv.Detections)
    assert_within_frame(results[0], 768, 432)


def test_real_dynamic_export_with_zero_confidence_keeps_boxes_in_frame() -> None:
    # with confidence 0 the random network yields many boxes: all must be clipped to the frame
    model = shared_model("yolov8n-random-dynamic.onnx")
    detector = onnx_detector(model, confidence=0.0, imgsz=320, classes=list(range(80)))

    [detections] = detector.detect([frame(432, 768)])

    assert detector.input_size(432, 768) == (192, 320)
    assert_within_frame(detections, 432, 768, classes=range(80))


def test_a_model_file_whose_name_central_could_not_store_is_refused_at_start(tmp_path: Path) -> None:
    """``stem/sha`` goes into every summary: a stem too long for central's column would have every summary
    rejected, so the agent refuses the file at start-up and says to rename it."""
    model = tmp_path / ("y" * 120 + ".onnx")
    model.write_bytes(shared_model("yolov8n-random-640.onnx").read_bytes())
    with pytest.raises(DetectorError, match=r"at most 128.*shorten"):
        onnx_detector(model)
