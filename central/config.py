"""The central service's strict configuration: a YAML file and/or flags, validated before anything starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from retail_common.config import StrictModel, load_yaml_config


class TlsConfig(StrictModel):
    cert: Path = Field(description="PEM certificate chain served to agents")
    key: Path = Field(description="PEM private key of that certificate")


class GrpcConfig(StrictModel):
    host: str = Field("127.0.0.1", description="bind address of the gRPC ingest (0.0.0.0 for every interface)")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0: any free port)")
    tls: TlsConfig | None = Field(None, description="serve TLS with these files; plaintext when absent")
    max_message_mb: int = Field(32, ge=1, le=512, description="largest request accepted, in MiB")


class HttpConfig(StrictModel):
    host: str = Field("127.0.0.1", description="bind address of the REST API and dashboard")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: any free port)")
    max_connections: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="open HTTP connections at most, live streams included; past it a new one is answered 503 and "
        "closed. Keep it well below the process's file limit (LimitNOFILE) so that gRPC ingest keeps its sockets",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="a request whose head and body are not all received in this time is closed"
    )
    keepalive_timeout_s: int = Field(5, ge=1, le=3600, description="an idle keep-alive connection is closed after this")
    max_png_renders: int = Field(
        2, ge=1, le=64, description="heatmap PNGs rendered at once; past it a request is answered 503 (retry)"
    )
    max_png_side_px: int = Field(
        2048, ge=64, le=8192, description="longest side of a heatmap PNG; the scale asked for is lowered to fit"
    )


class AuthConfig(StrictModel):
    """Cost bounds of checking secrets: each wrong one costs one scrypt (about 40 ms and 16 MiB)."""

    max_concurrent_checks: int = Field(2, ge=1, le=64, description="scrypt checks running at once")
    check_wait_s: float = Field(
        2.0, gt=0, le=60, description="how long a check waits for a free slot before it is answered busy (retry)"
    )
    max_failures: int = Field(
        10,
        ge=1,
        le=10_000_000,
        description="failed checks per client address, and per store or key id, within failure_window_s",
    )
    failure_window_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="past max_failures in this window, that address or id is refused (429) until it ends",
    )
    remember_s: float = Field(
        300.0, ge=0, le=86400, description="how long a verified secret is remembered in memory (0: never)"
    )
    remember_max: int = Field(
        10_000, ge=1, le=10_000_000, description="verified secrets remembered at most (oldest forgotten)"
    )
    tracked_max: int = Field(
        100_000, ge=1, le=10_000_000, description="addresses and ids whose failures are counted at most"
    )


class IngestLimits(StrictModel):
    max_items: int = Field(5000, ge=1, le=100_000, description="most summaries + tiles + counts in one push")
    max_future_s: float = Field(
        86400.0, ge=0, le=30 * 86400.0, description="how far past the server's clock a time may lie"
    )
    max_track_s: float = Field(12 * 3600.0, gt=0, le=7 * 86400.0, description="longest plausible track")
    max_speed_mps: float = Field(12.0, gt=0, le=100.0, description="fastest plausible person (m/s)")
    max_distance_m: float = Field(50_000.0, gt=0, le=1e6, description="longest plausible walk within one track")
    max_grid_cells: int = Field(65_536, ge=1, le=1 << 20, description="largest heatmap tile (rows x cols)")
    max_count_per_bucket: int = Field(
        1_000_000, ge=1, le=2**31 - 1, description="largest plausible line count in one bucket"
    )
    max_crossings_per_s: float = Field(
        20.0, gt=0, le=10_000, description="most people crossing one line per second of a bucket, on average"
    )


class FleetLimits(StrictModel):
    max_agents_per_store: int = Field(
        16, ge=1, le=10_000, description="most agents one store may have; a heartbeat from one more is refused"
    )
    max_cameras_per_agent: int = Field(64, ge=1, le=10_000, description="most cameras one heartbeat may report")
    max_layout_ids_per_camera: int = Field(
        256, ge=1, le=100_000, description="zones and lines one camera may declare in a heartbeat, together"
    )
    max_models_per_agent: int = Field(16, ge=1, le=1_000, description="most models one heartbeat may report")
    max_error_chars: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="last errors (the agent's and each camera's) are kept truncated to this many characters",
    )


class LiveConfig(StrictModel):
    """Bounds of the live feed (``GET /stores/{id}/live``): what subscribers may hold and how many there may be."""

    max_subscribers: int = Field(
        200, ge=1, le=100_000, description="live streams open at once in this process; one more is answered 503"
    )
    max_subscribers_per_key: int = Field(
        20, ge=1, le=100_000, description="live streams open at once with one API key; one more is answered 429"
    )
    subscriber_buffer: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="summaries waiting to be sent to one subscriber; past it the oldest are dropped and the "
        "subscriber is told how many (`event: dropped`)",
    )
    max_pending: int = Field(
        50_000,
        ge=1,
        le=10_000_000,
        description="stored summaries waiting for the fan-out thread; past it the oldest pushes are dropped for "
        "their store's subscribers (counted as above), so ingest never waits for the feed",
    )


class CardinalityLimits(StrictModel):
    """How many cameras, zones and lines a store's pushed data may create (a declared layout bounds its own
    camera's zones and lines): past a maximum, the item that would add one is REJECTED with the bound's name."""

    max_cameras_per_store: int = Field(
        256, ge=1, le=100_000, description="cameras a store may have, declared or learned"
    )
    max_zones_per_camera: int = Field(
        64, ge=1, le=100_000, description="zones learned from data per camera whose agent declared none"
    )
    max_lines_per_camera: int = Field(
        32, ge=1, le=100_000, description="counting lines learned from data per camera whose agent declared none"
    )
    max_zone_entries_per_summary: int = Field(
        64, ge=1, le=10_000, description="zone_dwell entries of one track summary"
    )
    refresh_s: float = Field(
        60.0, gt=0, le=86_400, description="how long ingest trusts its cached ids of a store before reading them again"
    )


class ResponseLimits(StrictModel):
    """How large one REST response may grow; past a bound the request is refused (422) saying how to narrow it."""

    max_points: int = Field(
        120_000,
        ge=1,
        le=100_000_000,
        description="series x buckets of one traffic or line-count response (each about 60 bytes of JSON, "
        "17 us and 1 kB of server memory while it is built)",
    )
    max_layout_ids: int = Field(
        200_000, ge=1, le=100_000_000, description="cameras + zones + lines listed in one response of /stores"
    )


class DashboardConfig(StrictModel):
    """The web dashboard at ``/dashboard``: its login sessions and how often open pages look for new data."""

    session_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="key that signs login cookies (32+ characters); replicas behind one address need the same. "
        "When absent a random one is made at start: logins then end when central restarts",
    )
    session_max_age_s: int = Field(
        12 * 3600, ge=60, le=30 * 86_400, description="a login lasts this long; then the login page is shown again"
    )
    max_sessions: int = Field(
        200,
        ge=1,
        le=100_000,
        description="dashboard pages open at once in this process (each holds its charts in memory, about 5 MiB); "
        "one more is answered 503",
    )
    refresh_s: float = Field(
        5.0,
        ge=0.5,
        le=3600,
        description="how often an open page checks for new data; it reads the database only when its store got "
        "new summaries through this process (or every 12 checks, for data that arrived at another replica)",
    )
    secure_cookie: bool = Field(
        False, description="mark the login cookie Secure: set it when users reach central over HTTPS (a TLS proxy)"
    )
    max_trajectories: int = Field(
        300, ge=1, le=5000, description="recent trajectories drawn on a store's floor plot at most"
    )


class GapConfig(StrictModel):
    """When an hour of a camera counts as missing data rather than an empty store (``missing`` in the series)."""

    min_uptime_fraction: float = Field(
        0.75,
        gt=0,
        le=1,
        description="a camera's hour is covered when its agent reported it connected at least this share of the "
        "hour; an hour below it, or with no report at all (camera or agent down), is missing",
    )
    pending_s: float = Field(
        900.0,
        ge=0,
        le=7 * 86400.0,
        description="hours that ended less than this long ago are not judged yet: their uptime may still be on "
        "its way from the agent",
    )


class BackgroundLimits(StrictModel):
    """Camera background pictures an admin uploads (``PUT .../cameras/{id}/background``): re-encoded by central."""

    max_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="largest upload accepted; a larger one is a 413"
    )
    max_pixels: int = Field(
        16_777_216,
        ge=4096,
        le=100_000_000,
        description="most pixels (width x height) of a picture; one with more is refused (422) before it is decoded",
    )


class RolloutConfig(StrictModel):
    """Where central finds models (MLflow), where it keeps their files, and how it judges a canary."""

    tracking_uri: str = Field(
        "sqlite:///mlflow.db",
        description="MLflow tracking URI of the model registry; the default is the local store `retail-train fit` "
        "writes in the working directory",
    )
    artifact_cache: Path = Field(
        Path("central-models"),
        description="folder of central's own copies of rolled-out model files, served to agents from here",
    )
    max_artifact_mb: int = Field(1024, ge=1, le=65_536, description="largest model file central accepts, in MiB")
    chunk_kib: int = Field(
        256, ge=4, le=4096, description="bytes of one DownloadModel chunk, in KiB (below grpc.max_message_mb)"
    )
    plan_interval_s: float = Field(5.0, gt=0, le=3600, description="how often the planner advances rollouts")
    plan_batch: int = Field(100, ge=1, le=10_000, description="rollouts the planner looks at in one tick, at most")
    max_stores: int = Field(10_000, ge=1, le=1_000_000, description="stores one rollout may cover")
    max_installs_per_heartbeat: int = Field(
        32, ge=1, le=1000, description="install reports one heartbeat may carry; more are refused with the heartbeat"
    )
    heartbeat_lost_s: float = Field(
        180.0, gt=0, le=7 * 86_400, description="a canary agent silent this long halts its rollout"
    )
    shift_threshold: float = Field(
        0.15,
        gt=0,
        le=1,
        description="Jensen-Shannon distance (base 2, 0 to 1) between the canary stores' behaviour-label mix and "
        "the rest of the fleet's over the same hours above which a rollout halts",
    )
    min_labelled_visits: int = Field(
        200,
        ge=1,
        le=10_000_000,
        description="classified visits each side (canary, rest) needs before the mix is judged; fewer: "
        "inconclusive, and the rollout pauses",
    )


class CentralConfig(StrictModel):
    database_url: str = Field(
        "sqlite:///central.db",
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://user@host/db",
    )
    grpc: GrpcConfig = Field(default_factory=GrpcConfig, description="gRPC ingest for agents")
    http: HttpConfig = Field(default_factory=HttpConfig, description="REST API, OpenAPI docs and dashboard")
    limits: IngestLimits = Field(default_factory=IngestLimits, description="what ingest accepts")
    heartbeat_history: int = Field(100, ge=1, le=100_000, description="heartbeats kept per agent")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="bounds on checking tokens and API keys")
    fleet: FleetLimits = Field(default_factory=FleetLimits, description="what an agent's heartbeat may hold")
    live: LiveConfig = Field(default_factory=LiveConfig, description="live stream (SSE) bounds")
    cardinality: CardinalityLimits = Field(
        default_factory=CardinalityLimits, description="cameras, zones and lines per store"
    )
    responses: ResponseLimits = Field(default_factory=ResponseLimits, description="size of REST responses")
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="the web dashboard")
    gaps: GapConfig = Field(default_factory=GapConfig, description="when data counts as missing (camera uptime)")
    backgrounds: BackgroundLimits = Field(default_factory=BackgroundLimits, description="camera background pictures")
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="model registry and rollouts")


def load_central_config(path: Path | None) -> CentralConfig:
    return load_yaml_config(path, CentralConfig) if path is not None else CentralConfig()
