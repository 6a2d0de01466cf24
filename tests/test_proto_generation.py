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

    summaries = edge_sync_pb2.SummaryColumns(track_id=["3f0c"], camera_id=["cam1"], distance_m=[1.5])
    again = edge_sync_pb2.SummaryColumns.FromString(summaries.SerializeToString())
    assert list(again.track_id) == ["3f0c"]
    assert list(again.distance_m) == [1.5]
    assert hasattr(edge_sync_pb2_grpc, "EdgeSyncStub")


def test_the_retired_message_form_is_reserved_so_no_new_field_reuses_its_number() -> None:
    from retail_proto.v1 import edge_sync_pb2

    push = edge_sync_pb2.PushRequest.DESCRIPTOR
    assert push.fields_by_number.get(4) is None
    assert "TrackSummary" not in edge_sync_pb2.DESCRIPTOR.message_types_by_name
    proto = (REPO / "proto" / "retail_proto" / "v1" / "edge_sync.proto").read_text()
    assert "reserved 4;" in proto
    assert 'reserved "summaries";' in proto
