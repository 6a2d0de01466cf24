"""``python -m edge_agent`` is ``retail-edge``."""

from edge_agent.cli import main

main()
