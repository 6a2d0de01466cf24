"""``retail-central stores``: a store created in a time zone, moved to another, and unknown zones refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "central"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def test_stores_get_a_time_zone_at_creation_and_change_it(tmp_path: Path) -> None:
    db = ["--database", f"sqlite:///{tmp_path / 'central.db'}"]
    created = run("stores", "create", "paris-1", "--timezone", "Europe/Paris", *db)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("paris-1.")
    refused = run("stores", "create", "mars-1", "--timezone", "Mars/Olympus", *db)
    assert refused.returncode != 0
    assert "'Mars/Olympus' is not an IANA time zone name" in refused.stderr
    assert "Europe/Paris" in run("stores", "list", *db).stdout

    wrong = run("stores", "set-timezone", "paris-1", "CET+1", *db)
    assert wrong.returncode != 0
    assert "is not an IANA time zone name" in wrong.stderr
    moved = run("stores", "set-timezone", "paris-1", "Asia/Kolkata", *db)
    assert moved.returncode == 0, moved.stderr
    listed = run("stores", "list", *db).stdout
    assert "Asia/Kolkata" in listed
    assert "mars-1" not in listed
