"""The contract of the product in Python, shared by the edge agent and the central service.

The track summary and its field table, the behaviour taxonomy, the path codec,
identifier rules, ``name/version`` model references, the strict-YAML configuration
base, command-line helpers, the retry backoff and systemd unit installation. Both
``edge_agent`` and ``central`` import this package; it imports neither
(``tests/test_layering.py`` keeps it so).
"""
