"""Shared fixtures: where the real test data lives (skipping clearly when it does not), and databases.

Databases for central's tests: a SQLite file and a throw-away PostgreSQL database, dropped afterwards.

PostgreSQL comes from ``RETAIL_TEST_POSTGRES_URL`` (default: the server on
127.0.0.1:5432 with trust authentication, as user ``postgres``). Where none
answers, the PostgreSQL half of each test skips saying so, unless
``RETAIL_REQUIRE_POSTGRES=1`` (set by ``.ci/run``, which installs and starts one),
in which case it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from central.db.engine import make_engine
from central.db.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ``../shared`` (beside the checkout), or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path} (the ../shared folder is not beside this checkout)")
    return path


@pytest.fixture
def intel_clip() -> Path:
    return shared_path("data", "intel-sample-videos", "one-by-one-person-detection.mp4")


@pytest.fixture
def aisle_gif() -> Path:
    return shared_path("data", "intel-sample-videos", "store-aisle-detection.gif")


# --- central's databases ---------------------------------------------------------------------

POSTGRES_URL = os.environ.get("RETAIL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_admin() -> Engine:
    engine = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # any failure to connect means "no server here"
        engine.dispose()
        message = f"no PostgreSQL at {make_url(POSTGRES_URL).render_as_string(hide_password=True)}: {e}"
        if os.environ.get("RETAIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message + " (set RETAIL_TEST_POSTGRES_URL to point the tests at one)")
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind, gone after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'central.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    admin = _postgres_admin()
    name = f"retail_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def visitor_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 22 s of the Intel clip: one visitor walks in (7 s), stands at the table and leaves (19 s)."""
    source = cv2.VideoCapture(str(shared_path("data", "intel-sample-videos", "one-by-one-person-detection.mp4")))
    out = tmp_path_factory.mktemp("clip") / "visitor.mp4"
    fps = source.get(cv2.CAP_PROP_FPS)
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(int(22 * fps)):
        ok, frame = source.read()
        assert ok
        writer.write(frame)
    writer.release()
    source.release()
    return out


# --- a model registry -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A real local MLflow store (SQLite) shared by the rollout tests: behaviour-model versions 1 (leaning to
    "interested") and 2 (leaning to "hesitant"), and person-detector version 1 (two classes). Tests may add
    versions and move aliases; none changes these three."""
    from mlflow_models import registry, tiny_behavior_model, tiny_detector_model

    from retail_common.rollout import BEHAVIOR_MODEL, DETECTOR_MODEL

    return registry(
        tmp_path_factory.mktemp("mlflow"),
        [
            (BEHAVIOR_MODEL, tiny_behavior_model("interested")),
            (BEHAVIOR_MODEL, tiny_behavior_model("hesitant", seed=1)),
            (DETECTOR_MODEL, tiny_detector_model(classes=2)),
        ],
    )
