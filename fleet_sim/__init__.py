"""The fleet simulator: realistic stores and shoppers (``generate``) pushed through central's real gRPC ingest
(``send``), with real tokens, as many agents would; ``retail-fleet-sim`` runs it.

It plays the agents' part against a real central, so it sits above both: it uses the agent's wire
converters and kinematics, the behaviour track simulator of ``training`` and central's store and server
code. Neither ``central`` nor ``edge_agent`` imports it.
"""

from fleet_sim.send import SimulationError, SimulationReport, StoreTotals, run_simulation

__all__ = ["SimulationError", "SimulationReport", "StoreTotals", "run_simulation"]
