"""The agent's strict configuration: models, YAML loading with line-numbered errors, embedded defaults."""

from edge_agent.config.loader import load_agent_config, parse_agent_config
from edge_agent.config.models import AgentConfig
from retail_common.config import ConfigError

__all__ = ["AgentConfig", "ConfigError", "load_agent_config", "parse_agent_config"]
