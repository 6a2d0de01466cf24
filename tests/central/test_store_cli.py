"""``retail-central stores``: a store created in a time zone, moved to another, and unknown zones refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from central.backgrounds import get_background
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import stores
from tests.central.rollup_rows import add_camera, add_store

CLI = [sys.executable, "-m", "central"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def test_stores_get_a_time_zone_at_creation_and_change_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    db = ["--database", url]
    created = run("stores", "create", "paris-1", "--timezone", "Europe/Paris", *db)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("paris-1.")
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(stores.c.timezone)).scalar_one() == "Europe/Paris"
    engine.dispose()
    refused = run("stores", "create", "mars-1", "--timezone", "Mars/Olympus", *db)
    assert refused.returncode != 0
    assert "'Mars/Olympus' is not an IANA time zone name" in refused.stderr
    moved = run("stores", "set-timezone", "paris-1", "Asia/Kolkata", *db)
    assert moved.returncode == 0, moved.stderr
    listed = run("stores", "list", *db).stdout
    assert "Asia/Kolkata" in listed
    assert "mars-1" not in listed


def test_an_installer_sets_a_camera_background_from_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = make_engine(url)
    upgrade(engine)
    add_store(engine, "s1")
    add_camera(engine, "s1", "entrance")
    picture = tmp_path / "heatmap.png"
    Image.new("RGB", (32, 24), (1, 2, 3)).save(picture)
    (tmp_path / "notes.txt").write_text("not a picture")
    done = run("cameras", "set-background", "s1", "entrance", str(picture), "--database", url)
    assert done.returncode == 0, done.stderr
    assert "32x24 image/png stored" in done.stdout
    wrong = run("cameras", "set-background", "s1", "entrance", str(tmp_path / "notes.txt"), "--database", url)
    assert wrong.returncode != 0
    assert "neither a PNG nor a JPEG" in wrong.stderr
    with engine.connect() as conn:
        stored = get_background(conn, "s1", "entrance")
    assert stored is not None
    assert (stored.width, stored.height, stored.uploaded_by) == (32, 24, "cli")
    engine.dispose()
