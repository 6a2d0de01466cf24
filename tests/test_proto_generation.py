"""The committed generated code is exactly what proto/generate.py produces from the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_regeneration_yields_the_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "proto" / "generate.py"), "--out", str(tmp_path)], check=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "the generator wrote nothing"
    for rel in generated:
        committed = REPO / "proto" / rel
        assert committed.exists(), f"{rel} is generated but not committed"
        assert committed.read_bytes() == (tmp_path / rel).read_bytes(), f"{rel} differs: run `make proto`"


def test_generated_package_imports_under_a_name_that_does_not_collide() -> None:
    from retail_proto.v1 import edge_sync_pb2, edge_sync_pb2_grpc

    summary = edge_sync_pb2.TrackSummary(track_id="3f0c", store_id="s1", distance_m=1.5)
    again = edge_sync_pb2.TrackSummary.FromString(summary.SerializeToString())
    assert again.track_id == "3f0c"
    assert again.distance_m == 1.5
    assert hasattr(edge_sync_pb2_grpc, "EdgeSyncStub")
