"""The systemd units of the agent and of central, rendered for one machine, and their installation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template


@dataclass(frozen=True)
class UnitSettings:
    executable: Path  # the console script, e.g. /opt/retail/.venv/bin/retail-edge
    config: Path
    user: str = "retail-edge"
    state_dir: str = "retail-edge"  # under /var/lib, made by systemd (StateDirectory=)
    watchdog_s: int = 60


def unit_template(name: str) -> Template:
    text = (resources.files("edge_agent.runtime") / "units" / f"{name}.service.in").read_text(encoding="utf-8")
    return Template(text)


def render_unit(name: str, settings: UnitSettings) -> str:
    return unit_template(name).substitute(
        EXECUTABLE=str(settings.executable),
        CONFIG=str(settings.config),
        USER=settings.user,
        STATE_DIR=settings.state_dir,
        WATCHDOG_S=str(settings.watchdog_s),
    )


def default_executable(script: str) -> Path:
    found = shutil.which(script) or str(Path(sys.executable).with_name(script))
    return Path(found).resolve()


def install_unit(name: str, settings: UnitSettings, unit_dir: Path, enable: bool) -> Path:
    """Writes the unit, creates its system user if missing, and reloads (and enables) it with systemctl."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / f"{name}.service"
    path.write_text(render_unit(name, settings), encoding="utf-8")
    if (
        shutil.which("useradd")
        and subprocess.run(["id", "-u", settings.user], capture_output=True, check=False).returncode
    ):
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", settings.user], check=True
        )
    if shutil.which("systemctl") and systemd_running():
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        if enable:
            subprocess.run(["systemctl", "enable", "--now", f"{name}.service"], check=True)
    return path


def systemd_running() -> bool:
    """Whether systemd is the init system here (sd_booted's test); in a container or chroot it is not."""
    return Path("/run/systemd/system").is_dir()
