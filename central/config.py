"""The central service's strict configuration: a YAML file and/or flags, validated before anything starts."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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


class IngestLimits(StrictModel):
    max_items: int = Field(5000, ge=1, description="most summaries + tiles + counts in one push")
    max_future_s: float = Field(86400.0, ge=0, description="how far past the server's clock a time may lie")
    max_track_s: float = Field(12 * 3600.0, gt=0, description="longest plausible track")
    max_speed_mps: float = Field(12.0, gt=0, description="fastest plausible person (m/s)")
    max_distance_m: float = Field(50_000.0, gt=0, description="longest plausible walk within one track")
    max_grid_cells: int = Field(65_536, ge=1, description="largest heatmap tile (rows x cols)")
    max_count_per_bucket: int = Field(1_000_000, ge=1, description="largest plausible line count in one bucket")


class LiveConfig(StrictModel):
    """Bounds of the live feed (``GET /stores/{id}/live``): what subscribers may hold and how many there may be."""

    max_subscribers: int = Field(
        200, ge=1, description="live streams open at once in this process; one more is answered 503"
    )
    max_subscribers_per_key: int = Field(
        20, ge=1, description="live streams open at once with one API key; one more is answered 429"
    )
    subscriber_buffer: int = Field(
        2000,
        ge=1,
        description="summaries waiting to be sent to one subscriber; past it the oldest are dropped and the "
        "subscriber is told how many (`event: dropped`)",
    )
    max_pending: int = Field(
        50_000,
        ge=1,
        description="stored summaries waiting for the fan-out thread; past it the oldest pushes are dropped for "
        "their store's subscribers (counted as above), so ingest never waits for the feed",
    )


class CentralConfig(StrictModel):
    database_url: str = Field(
        "sqlite:///central.db",
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://user@host/db",
    )
    grpc: GrpcConfig = Field(default_factory=GrpcConfig, description="gRPC ingest for agents")
    http: HttpConfig = Field(default_factory=HttpConfig, description="REST API, OpenAPI docs and dashboard")
    limits: IngestLimits = Field(default_factory=IngestLimits, description="what ingest accepts")
    live: LiveConfig = Field(default_factory=LiveConfig, description="live stream (SSE) bounds")
    heartbeat_history: int = Field(100, ge=1, description="heartbeats kept per agent")


def load_central_config(path: Path | None) -> CentralConfig:
    return load_yaml_config(path, CentralConfig) if path is not None else CentralConfig()
