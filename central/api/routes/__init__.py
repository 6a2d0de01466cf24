"""One router per resource, all mounted under ``/api/v1`` by ``central.api.app`` (``health`` at the root)."""
