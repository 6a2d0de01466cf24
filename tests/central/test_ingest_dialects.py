"""Ingest's writes are chosen once per engine: SQLite and PostgreSQL each get theirs, any other is refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from central.db.engine import make_engine
from central.ingest.dialects import PostgresWrites, SqliteWrites, for_engine


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite://", SqliteWrites),
        ("postgresql://central@127.0.0.1:5432/central", PostgresWrites),
    ],
)
def test_the_engine_chooses_its_writes(url: str, expected: type[object]) -> None:
    engine = make_engine(url)  # nothing connects: the choice reads only the engine's dialect
    assert type(for_engine(engine)) is expected
    engine.dispose()


def test_a_database_ingest_cannot_write_to_is_refused_by_name() -> None:
    engine = create_engine("mssql+pymssql://u@h/db", module=SimpleNamespace(paramstyle="pyformat"))  # no driver needed
    with pytest.raises(ValueError, match="'mssql' database"):
        for_engine(engine)
