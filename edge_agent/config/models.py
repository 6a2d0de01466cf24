"""The agent's configuration tree: one YAML file, validated strictly before anything starts.

Every model rejects unknown keys and describes each field, so a typo in a store's
YAML is an error at start-up rather than a silently ignored setting. The module runs past 400 lines
because the whole tree, each field with its bounds and description, reads best in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from edge_agent.config.geometry import polygon_problem
from retail_common.config import StrictModel
from retail_common.ids import ID_MAX, Identifier, is_id

# pixel coordinates may lie a little outside the image (a zone reaching past its edge), never absurdly far
Pixel = Annotated[float, Field(ge=-100_000.0, le=100_000.0)]
PixelPoint = tuple[Pixel, Pixel]
ClassIndex = Annotated[int, Field(ge=0, le=9_999)]


class HogDetectorConfig(StrictModel):
    """OpenCV's built-in HOG + linear SVM people detector: no model file at all."""

    type: Literal["hog"] = "hog"
    scale: float = Field(
        0.4,
        gt=0.05,
        le=2.0,
        description="resize factor applied to the frame before detection; the HOG window is 64x128 px, "
        "so people taller than ~300 px are only found after shrinking the frame",
    )
    win_stride: int = Field(4, ge=1, le=32, description="sliding window step in pixels (of the scaled frame)")
    pyramid_scale: float = Field(1.05, gt=1.0, le=2.0, description="image pyramid step between detection scales")
    pad_bottom: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="fraction of the scaled frame height added below the bottom edge (edge rows repeated), "
        "so people whose legs are cut off by the frame still fill a whole window",
    )
    hit_threshold: float = Field(
        0.0,
        ge=-2.0,
        le=2.0,
        description="SVM margin a window needs to count as a person (OpenCV's hitThreshold); lower finds more "
        "people and more false positives",
    )
    min_confidence: float = Field(
        0.2, ge=0.0, le=1.0, description="detections whose confidence (squashed SVM margin) is below this are dropped"
    )
    nms_overlap: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="boxes overlapping more than this (intersection over the smaller box) are suppressed",
    )


class YoloFileConfig(StrictModel):
    """What every backend that runs an Ultralytics YOLO model file shares: input size, filtering, batching."""

    model: Path = Field(
        description="path of the model file (an Ultralytics export, output (batch, 4+classes, anchors))"
    )
    imgsz: int = Field(
        640, ge=32, le=4096, description="network input size (long side) for models with a dynamic input shape"
    )
    rect: bool = Field(
        True,
        description="with a dynamic input shape, letterbox to the smallest stride-32 rectangle instead of a square",
    )
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="minimum class score kept")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="IoU threshold of non-maximum suppression")
    classes: list[ClassIndex] = Field([0], min_length=1, description="class indices kept (COCO 0 = person)")
    threads: int | None = Field(None, ge=1, le=256, description="inference threads (default: the runtime's choice)")
    max_batch: int = Field(8, ge=1, le=64, description="largest batch sent at once when the model has a dynamic batch")


class OnnxDetectorConfig(YoloFileConfig):
    """An Ultralytics YOLOv8 / YOLO11 ONNX export (FP32, FP16 or INT8 QDQ) run by ONNX Runtime."""

    type: Literal["onnx"]
    providers: list[str] | None = Field(
        None,
        description="ONNX Runtime execution providers in order of preference; "
        "default: TensorRT, CUDA, CPU, whichever are available",
    )


class OpenVinoDetectorConfig(YoloFileConfig):
    """An Ultralytics YOLO export (.onnx, FP32 or INT8 QDQ, or OpenVINO IR .xml) run by OpenVINO (Intel CPUs,
    GPUs and NPUs; AMD CPUs too). Needs the ``openvino`` extra."""

    type: Literal["openvino"]
    device: str = Field(
        "CPU", min_length=1, max_length=64, description="OpenVINO device: CPU, GPU, NPU, AUTO or e.g. GPU.1"
    )
    inference_precision: Literal["f32", "bf16", "f16", "auto"] = Field(
        "f32",
        description="arithmetic of the float layers: f32 (as exported); bf16 needs a CPU with AVX-512 BF16 or AMX "
        "(faster, not checked against f32 by `retail-edge optimize`: compare first with bench/int8_agreement.py); "
        "auto is the device's own default (bf16 wherever the CPU has it); an INT8 (QDQ) model runs its quantized "
        "layers in int8 either way",
    )


class TensorRTDetectorConfig(StrictModel):
    """A serialized TensorRT engine built from an Ultralytics export (Jetson, NVIDIA GPUs)."""

    type: Literal["tensorrt"]
    engine: Path = Field(description="path of the serialized engine (.engine / .plan)")
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="minimum class score kept")
    nms_iou: float = Field(0.45, gt=0.0, le=1.0, description="IoU threshold of non-maximum suppression")
    classes: list[ClassIndex] = Field([0], min_length=1, description="class indices kept (COCO 0 = person)")


DetectorConfig = Annotated[
    HogDetectorConfig | OnnxDetectorConfig | OpenVinoDetectorConfig | TensorRTDetectorConfig,
    Field(discriminator="type"),
]


class TrackerConfig(StrictModel):
    """ByteTrack settings plus what counts as a real visitor."""

    track_activation_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="detection confidence needed to start a new track"
    )
    high_conf_det_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="detections at or above this take part in the first association stage"
    )
    minimum_iou_threshold: float = Field(0.1, ge=0.0, le=1.0, description="IoU needed to match a detection to a track")
    minimum_consecutive_frames: int = Field(3, ge=1, le=100, description="matched frames before a track gets an id")
    lost_track_seconds: float = Field(
        4.0, gt=0.0, le=60.0, description="how long a track survives without detections (bridges missed detections)"
    )
    min_track_seconds: float = Field(
        2.0, ge=0.0, le=600.0, description="tracks shorter than this are discarded as noise, not counted as visitors"
    )
    min_detections: int = Field(5, ge=1, le=10_000, description="tracks with fewer detections are discarded as noise")


class HomographyCalibration(StrictModel):
    type: Literal["homography"]
    matrix: tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]] = Field(
        description="3x3 matrix mapping image pixels (x, y, 1) to floor metres"
    )

    @field_validator("matrix")
    @classmethod
    def _invertible(cls, m: tuple[tuple[float, float, float], ...]) -> tuple[tuple[float, float, float], ...]:
        if abs(float(np.linalg.det(np.asarray(m, dtype=np.float64)))) < 1e-12:
            raise ValueError("homography matrix is singular")
        return m


class PersonHeightCalibration(StrictModel):
    type: Literal["person_height"] = "person_height"
    person_height_m: float = Field(
        1.7, gt=0.5, le=2.5, description="assumed height of a person; sets metres per pixel from the box height"
    )


CalibrationConfig = Annotated[HomographyCalibration | PersonHeightCalibration, Field(discriminator="type")]


class ZoneConfig(StrictModel):
    """A polygon on the image; a person is inside when the bottom-centre of their box (their feet) is."""

    id: Identifier
    polygon: list[PixelPoint] = Field(
        min_length=3, max_length=1000, description="vertices in image pixels, in order; the edges may not cross"
    )
    enter_after_s: float = Field(0.5, ge=0.0, le=60.0, description="seconds inside before a visit starts")
    exit_after_s: float = Field(1.5, ge=0.0, le=60.0, description="seconds outside before a visit ends")

    @model_validator(mode="after")
    def _simple(self) -> ZoneConfig:
        problem = polygon_problem(self.polygon)
        if problem:
            raise ValueError(f"zone {self.id!r}: {problem}")
        return self


class LineConfig(StrictModel):
    """A counting line; crossing it from its right side to its left (looking from start to end) counts as 'in'."""

    id: Identifier
    start: PixelPoint = Field(description="first end point in image pixels")
    end: PixelPoint = Field(description="second end point in image pixels")
    hysteresis_px: float = Field(
        10.0, ge=0.0, le=500.0, description="a crossing counts only once the feet are this far past the line"
    )

    @model_validator(mode="after")
    def _not_degenerate(self) -> LineConfig:
        if self.start == self.end:
            raise ValueError(f"line {self.id!r} has identical start and end points {self.start}")
        return self


SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https")


class CameraConfig(StrictModel):
    id: Identifier
    source: str = Field(
        min_length=1, description="video file path, rtsp:// or http(s):// URL, or 'usb:N' for a local device"
    )
    fps: float | None = Field(None, gt=0.0, le=240.0, description="frame rate to assume when the source reports none")
    loop: bool = Field(False, description="a video file starts again at its end (`retail-edge run` only)")
    realtime: bool = Field(
        True, description="a video file is read at its own frame rate, like a camera; false: as fast as it decodes"
    )
    min_box_height_px: float = Field(
        0.0,
        ge=0.0,
        le=10_000.0,
        description="detections shorter than this many pixels are ignored before tracking: a size filter that "
        "removes false positives far smaller than any person this camera can see",
    )
    calibration: CalibrationConfig = Field(
        default_factory=PersonHeightCalibration, description="how image points become floor metres"
    )
    zones: list[ZoneConfig] = Field(default_factory=list, description="polygon zones measured for entries and dwell")
    lines: list[LineConfig] = Field(default_factory=list, description="counting lines")

    @field_validator("source")
    @classmethod
    def _known_source_type(cls, source: str) -> str:
        scheme, sep, _ = source.partition("://")
        if sep and scheme.lower() not in SOURCE_SCHEMES:
            raise ValueError(
                f"unknown camera source type {scheme!r}: use a video file path, "
                f"{', '.join(s + '://' for s in SOURCE_SCHEMES)} or usb:N"
            )
        if source.startswith("usb:") and not source[4:].isdigit():
            raise ValueError(f"bad USB camera {source!r}: expected usb:N with N the device number")
        return source

    @model_validator(mode="after")
    def _unique_ids(self) -> CameraConfig:
        for kind, ids in (("zone", [z.id for z in self.zones]), ("line", [ln.id for ln in self.lines])):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"duplicate {kind} id(s) on camera {self.id!r}: {', '.join(dup)}")
        return self


class HeatmapConfig(StrictModel):
    bucket_seconds: int = Field(900, ge=60, le=86_400, description="length of one heatmap time bucket")
    cols: int = Field(32, ge=1, le=256, description="grid columns across the image")
    rows: int = Field(18, ge=1, le=256, description="grid rows down the image")


class LinesConfig(StrictModel):
    bucket_seconds: int = Field(900, ge=60, le=86_400, description="length of one line-count time bucket")


class BehaviorConfig(StrictModel):
    model: Path | None = Field(
        None, description="behaviour model (.onnx) to run on finished tracks; default: the one packaged with the agent"
    )
    threads: int | None = Field(None, ge=1, le=64, description="ONNX Runtime intra-op threads for the behaviour model")


class StoreConfig(StrictModel):
    path: Path = Field(Path("retail-edge.db"), description="SQLite file of the local store (WAL mode)")


class HealthConfig(StrictModel):
    host: str = Field("127.0.0.1", description="bind address of /healthz and /metrics")
    port: int = Field(9108, ge=0, le=65535, description="port of /healthz and /metrics (0: any free one)")


class SupervisorConfig(StrictModel):
    """How a worker thread that died (a camera reader, the sync) is restarted, as Frigate's watchdog does."""

    backoff_initial_s: float = Field(1.0, gt=0, le=600, description="wait before the first restart of a dead worker")
    backoff_max_s: float = Field(
        60.0, gt=0, le=3600, description="longest wait before a restart (doubling per death in the window, jittered)"
    )
    max_restarts: int = Field(
        5, ge=0, le=1000, description="restarts allowed within window_s; one more death marks the worker failed"
    )
    window_s: float = Field(600.0, gt=0, le=86_400, description="the sliding window the restarts are counted in")


class RuntimeConfig(StrictModel):
    """How ``retail-edge run`` schedules its cameras and the detector."""

    queue_size: int = Field(2, ge=1, le=256, description="frames buffered per camera; the oldest is dropped (counted)")
    max_batch: int = Field(8, ge=1, le=64, description="frames of several cameras given to the detector at once")
    active_fps: float | None = Field(
        None, gt=0, le=120, description="sampling rate while someone is in view (default: the camera's own rate)"
    )
    idle_fps: float = Field(2.0, gt=0, le=120, description="sampling rate while nobody is in view")
    idle_after_s: float = Field(3.0, ge=0, le=3600, description="seconds without a person before a camera idles")
    reconnect_initial_s: float = Field(1.0, gt=0, le=600, description="first wait before reopening a failed camera")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, description="longest wait between reconnection attempts")
    flush_interval_s: float = Field(5.0, gt=0, le=600, description="how often ended heatmap/line buckets are stored")
    uptime_bucket_s: int = Field(
        900,
        ge=60,
        le=3600,
        description="bucket of each camera's connected seconds sent to central (divides an hour); central shows "
        "hours a camera was down as missing data, not as an empty store",
    )
    retention_days: float = Field(30.0, gt=0, le=3650, description="synced data older than this is deleted")
    disk_budget_mb: float = Field(
        2048.0, gt=0, le=10_000_000, description="most space the store may use; synced data goes first, unsynced never"
    )
    shutdown_sync_s: float = Field(10.0, ge=0, le=120, description="time given to a last sync when stopping")
    health: HealthConfig = Field(default_factory=HealthConfig, description="local health and metrics endpoint")
    supervisor: SupervisorConfig = Field(
        default_factory=SupervisorConfig, description="restarts of camera and sync threads that die"
    )

    @field_validator("uptime_bucket_s")
    @classmethod
    def _divides_an_hour(cls, value: int) -> int:
        if 3600 % value:
            raise ValueError(f"{value} does not divide an hour (3600 s): use 60, 300, 600, 900, 1200, 1800 or 3600")
        return value


class SyncConfig(StrictModel):
    """Store-and-forward to central: everything is committed locally first, then pushed until acknowledged."""

    target: str = Field(description="central's gRPC address, host:port")
    token_file: Path = Field(description="file holding this store's enrollment token (`retail-central stores create`)")
    tls_ca: Path | None = Field(
        None, description="PEM certificate(s) that sign central's TLS certificate; plaintext gRPC when absent"
    )
    batch_size: int = Field(500, ge=1, le=5000, description="most items in one push")
    interval_s: float = Field(5.0, gt=0, le=3600, description="how often pending data is pushed")
    timeout_s: float = Field(30.0, gt=0, le=600, description="deadline of one push or heartbeat")
    backoff_initial_s: float = Field(1.0, gt=0, le=600, description="first wait after a failed push")
    backoff_max_s: float = Field(300.0, gt=0, le=86_400, description="longest wait between attempts (with jitter)")
    heartbeat_s: float = Field(30.0, gt=0, le=3600, description="how often the agent reports its health")
    max_item_retries: int = Field(
        5,
        ge=1,
        le=1000,
        description="an item central asks to retry this many times while storing others of the same push is "
        "set aside for set_aside_s, so that the items behind it are not stuck",
    )
    set_aside_s: float = Field(
        3600.0,
        gt=0,
        le=7 * 86400,
        description="how long an item that keeps failing alone waits before it is tried again",
    )
    bucket_grace_s: float = Field(
        30.0,
        ge=0,
        le=86_400,
        description="tiles and line counts are pushed once their bucket ended this long ago (late frames and a "
        "restart within the bucket are merged until then); at least twice runtime.flush_interval_s",
    )


class UpdatesConfig(StrictModel):
    """Models delivered by central (OTA): where they are kept, how downloads retry, what a new model must pass."""

    models_dir: Path | None = Field(
        None,
        description="folder of delivered models and their manifest (active and previous of each role); "
        "default: 'models' beside the store's SQLite file",
    )
    max_model_mb: float = Field(
        1024.0, gt=0, le=65_536, description="largest model accepted; an assignment announcing more is ignored"
    )
    download_attempts: int = Field(
        6,
        ge=1,
        le=1000,
        description="cuts in a row that bring no new byte before an install fails with download_failed "
        "(each retry resumes from the staged size)",
    )
    backoff_initial_s: float = Field(1.0, gt=0, le=600, description="first wait after a cut download")
    backoff_max_s: float = Field(60.0, gt=0, le=3600, description="longest wait between download attempts")
    download_timeout_s: float = Field(
        600.0, gt=0, le=86_400, description="deadline of one download stream (a cut one resumes where it stopped)"
    )
    retry_failed_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="an install that failed for a passing reason (download, full disk) is tried again after this; "
        "one that failed a check is not tried again within the same rollout",
    )
    smoke_behavior_ms: float = Field(
        2000.0, gt=0, le=600_000, description="most a new behaviour model may take on the fixed smoke-test tracks"
    )
    smoke_detector_ms: float = Field(
        10_000.0, gt=0, le=600_000, description="most a new detector may take on the fixed smoke-test frames"
    )
    probation_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="after a swap the previous model stays loaded this long; an exception or a non-finite output "
        "of the new one within it swaps the previous back at once (rollback)",
    )
    silent_detector_s: float = Field(
        120.0,
        gt=0,
        le=86_400,
        description="a new detector that finds nobody this long, where the previous one found people, is warned "
        "about (log, heartbeat), not rolled back: an empty store looks the same",
    )
    silent_previous_rate: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of frames in which the previous detector found people for that warning to apply",
    )
    swap_wait_s: float = Field(
        60.0, gt=0, le=3600, description="how long a tested model waits for the scheduler to take it between batches"
    )


def default_agent_id(store_id: object) -> str:
    """``edge-<store_id>``, or the store id itself where that would be too long for an id: unique per store."""
    if not (isinstance(store_id, str) and is_id(store_id)):
        return "edge"  # the store id is missing or invalid: the configuration is refused for that alone
    derived = f"edge-{store_id}"
    return derived if len(derived) <= ID_MAX else store_id


class AgentConfig(StrictModel):
    """Root of one agent's YAML file."""

    store_id: Identifier = Field(description="the store this agent belongs to")
    # filled from store_id by _agent_id_from_store whenever absent; the literal default only keeps the
    # constructor's argument optional for type checkers
    agent_id: Identifier = Field(
        "edge",
        description="this agent within the store (central knows an agent by store and agent id); default "
        "'edge-<store_id>', or the store id itself where that would pass 64 characters, so that no two stores' "
        "agents share an id unless configured to",
    )
    detector: DetectorConfig = Field(default_factory=HogDetectorConfig, description="person detector backend")
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="tracking settings")
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig, description="heatmap grid and bucket")
    lines: LinesConfig = Field(default_factory=LinesConfig, description="line-count bucket")
    store: StoreConfig = Field(default_factory=StoreConfig, description="local SQLite store")
    behavior: BehaviorConfig = Field(default_factory=BehaviorConfig, description="behaviour classification")
    cameras: list[CameraConfig] = Field(default_factory=list, description="cameras read by this agent")
    sync: SyncConfig | None = Field(None, description="push to central; the agent only stores locally when absent")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="the long-running service")
    updates: UpdatesConfig = Field(
        default_factory=UpdatesConfig, description="models delivered by central (needs `sync:`); kept across restarts"
    )

    @property
    def models_dir(self) -> Path:
        """Where delivered models and their manifest live."""
        return self.updates.models_dir or self.store.path.parent / "models"

    @model_validator(mode="before")
    @classmethod
    def _agent_id_from_store(cls, data: Any) -> Any:  # the raw YAML mapping, before validation
        if isinstance(data, dict) and "agent_id" not in data:
            return {**data, "agent_id": default_agent_id(data.get("store_id"))}
        return data

    @model_validator(mode="after")
    def _grace_covers_flushes(self) -> AgentConfig:
        if self.sync is not None and 0 < self.sync.bucket_grace_s < 2 * self.runtime.flush_interval_s:
            raise ValueError(
                f"sync.bucket_grace_s ({self.sync.bucket_grace_s:g}) must be at least twice "
                f"runtime.flush_interval_s ({self.runtime.flush_interval_s:g}): a bucket could be sent before "
                "its last flush"
            )
        return self

    @model_validator(mode="after")
    def _unique_cameras(self) -> AgentConfig:
        ids = [c.id for c in self.cameras]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate camera id(s): {', '.join(dup)}")
        return self
