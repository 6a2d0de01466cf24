"""``make demo``'s program on a small fleet: central, the simulator and (where the clip is here) the edge agent
come up, the printed key reads the dashboard's data, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from grpc_fixtures import free_port


def _running_with(marker: str) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if marker in line and "ps -eww" not in line]


def test_the_demo_prints_a_working_key_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "system"
    http_port, grpc_port = free_port(), free_port()
    args = [sys.executable, "-m", "fleet_sim.demo", "--out", str(out), "--stores", "2", "--days", "1"]
    demo = subprocess.Popen(
        [*args, "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    printed = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            printed.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(printed)
        assert f"http://127.0.0.1:{http_port}/dashboard" in text, text
        key = re.search(r"viewer key\s+(\S+)", text)
        assert key is not None, text
        overview = httpx.get(
            f"http://127.0.0.1:{http_port}/api/v1/overview",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=30,
        )
        assert overview.status_code == 200
        ids = {s["store_id"] for s in overview.json()["stores"]}
        assert {"sim-001", "sim-002", "intel-demo"} <= ids
        assert _running_with(str(out))  # central and the simulator (and the agent) are up
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        demo.wait(60)
    finally:
        if demo.poll() is None:  # a failed assertion above: stop it the same way, so its children stop too
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
    rest = demo.stdout.read()
    assert demo.returncode == 0, rest
    assert "stopping the edge agent, the simulator and central" in rest
    assert _running_with(str(out)) == []
