"""``retail-edge run``: the long-running multi-camera service (workers, scheduler, health, systemd)."""
