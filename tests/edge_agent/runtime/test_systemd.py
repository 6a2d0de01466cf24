"""The systemd units verify with systemd-analyze, and the agent speaks the notify protocol to a real socket."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run import agent_config

from edge_agent.runtime.systemd import Notifier
from retail_common.service import UnitSettings, render_unit

REPO = Path(__file__).resolve().parents[3]
PACKAGES = {"retail-edge": "edge_agent.runtime", "retail-central": "central"}  # where each unit's template lives
DEFAULTS = {
    "retail-edge": UnitSettings(
        Path("/opt/retail-analytics/.venv/bin/retail-edge"), Path("/etc/retail-edge/agent.yaml"), "retail-edge"
    ),
    "retail-central": UnitSettings(
        Path("/opt/retail-analytics/.venv/bin/retail-central"),
        Path("/etc/retail-central/central.yaml"),
        "retail-central",
        "retail-central",
    ),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_deploy_units_are_the_rendered_defaults(name: str) -> None:
    assert (REPO / "deploy" / "systemd" / f"{name}.service").read_text() == render_unit(
        PACKAGES[name], name, DEFAULTS[name]
    )


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_units_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    executable = Path(sys.executable).with_name(name)
    unit = tmp_path / f"{name}.service"
    unit.write_text(render_unit(PACKAGES[name], name, UnitSettings(executable, tmp_path / "config.yaml", "root", name)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in done.stderr.splitlines() if unit.name in line or "Unknown" in line]
    assert done.returncode == 0, done.stderr
    assert problems == [], done.stderr
    text = unit.read_text()
    for setting in ("Restart=always", "ProtectSystem=strict", "NoNewPrivileges=yes", f"StateDirectory={name}"):
        assert setting in text
    if name == "retail-edge":
        assert "Type=notify" in text
        assert "WatchdogSec=60" in text


def receiver(tmp_path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(60)
    return sock


def test_notifier_sends_datagrams_and_paces_the_watchdog(tmp_path: Path) -> None:
    sock = receiver(tmp_path)
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "2000000"})
    notifier.ready("2 camera(s)")
    notifier.watchdog()
    notifier.watchdog()  # within a second of the last ping: not sent again
    notifier.stopping()
    got = [sock.recv(4096).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=2 camera(s)", "WATCHDOG=1", "STOPPING=1"]
    assert not Notifier({}).enabled
    sock.close()


def test_the_agent_notifies_ready_pings_the_watchdog_and_stopping(tmp_path: Path, visitor_clip: Path) -> None:
    sock = receiver(tmp_path)
    config = agent_config(tmp_path, visitor_clip, None, loop=True)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        messages = [sock.recv(4096).decode()]
        assert messages[0].startswith("READY=1")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            messages.append(sock.recv(4096).decode())
        assert messages.count("WATCHDOG=1") >= 3  # every half second
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages.append(sock.recv(4096).decode())
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_install_service_writes_the_rendered_unit(tmp_path: Path, name: str) -> None:
    """``retail-edge install-service`` and ``retail-central install-service`` each install their own unit."""
    from retail_common.service import systemd_running

    if systemd_running():
        pytest.skip("systemd runs here: installing would reload the real service manager")
    program = {"retail-edge": "edge_agent", "retail-central": "central"}[name]
    config = tmp_path / "service.yaml"
    config.write_text("store_id: s1\n" if name == "retail-edge" else "{}\n")
    executable = Path(sys.executable).with_name(name)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            program,
            "install-service",
            "--config",
            str(config),
            "--unit-dir",
            str(tmp_path / "units"),
            "--user",
            "root",  # exists: no user is created
            "--executable",
            str(executable),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "systemd is not running here" in done.stdout
    unit = (tmp_path / "units" / f"{name}.service").read_text()
    assert unit == render_unit(PACKAGES[name], name, UnitSettings(executable, config.resolve(), "root", name))
    missing = subprocess.run(
        [sys.executable, "-m", program, "install-service", "--config", str(tmp_path / "absent.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert "configuration not found" in missing.stderr
