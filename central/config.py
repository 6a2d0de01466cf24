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


class CardinalityLimits(StrictModel):
    """How many cameras, zones and lines a store's pushed data may create (a declared layout bounds its own
    camera's zones and lines): past a maximum, the item that would add one is REJECTED with the bound's name."""

    max_cameras_per_store: int = Field(256, ge=1, description="cameras a store may have, declared or learned")
    max_zones_per_camera: int = Field(
        64, ge=1, description="zones learned from data per camera whose agent declared none"
    )
    max_lines_per_camera: int = Field(
        32, ge=1, description="counting lines learned from data per camera whose agent declared none"
    )
    max_zone_entries_per_summary: int = Field(64, ge=1, description="zone_dwell entries of one track summary")
    refresh_s: float = Field(
        60.0, gt=0, description="how long ingest trusts its cached ids of a store before reading them again"
    )


class ResponseLimits(StrictModel):
    """How large one REST response may grow; past a bound the request is refused (422) saying how to narrow it."""

    max_points: int = Field(
        120_000,
        ge=1,
        description="series x buckets of one traffic or line-count response (each about 60 bytes of JSON, "
        "17 us and 1 kB of server memory while it is built)",
    )
    max_layout_ids: int = Field(200_000, ge=1, description="cameras + zones + lines listed in one response of /stores")


class CentralConfig(StrictModel):
    database_url: str = Field(
        "sqlite:///central.db",
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://user@host/db",
    )
    grpc: GrpcConfig = Field(default_factory=GrpcConfig, description="gRPC ingest for agents")
    http: HttpConfig = Field(default_factory=HttpConfig, description="REST API, OpenAPI docs and dashboard")
    limits: IngestLimits = Field(default_factory=IngestLimits, description="what ingest accepts")
    cardinality: CardinalityLimits = Field(
        default_factory=CardinalityLimits, description="cameras, zones and lines per store"
    )
    responses: ResponseLimits = Field(default_factory=ResponseLimits, description="size of REST responses")
    heartbeat_history: int = Field(100, ge=1, description="heartbeats kept per agent")


def load_central_config(path: Path | None) -> CentralConfig:
    return load_yaml_config(path, CentralConfig) if path is not None else CentralConfig()
