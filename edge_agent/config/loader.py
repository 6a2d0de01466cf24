"""The agent's YAML file into :class:`AgentConfig` (strict loading is shared: :mod:`retail_common.config`)."""

from __future__ import annotations

from pathlib import Path

from edge_agent.config.models import AgentConfig
from retail_common.config import load_yaml_config, parse_yaml_config


def parse_agent_config(text: str, source: str = "<string>") -> AgentConfig:
    return parse_yaml_config(text, AgentConfig, source)


def load_agent_config(path: Path) -> AgentConfig:
    return load_yaml_config(path, AgentConfig)
