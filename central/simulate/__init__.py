"""The fleet simulator: realistic stores and shoppers (``generate``) pushed through the real gRPC ingest (``send``).

``retail-central simulate`` calls :func:`run_simulation`.
"""

from central.simulate.send import SimulationError, SimulationReport, StoreTotals, run_simulation

__all__ = ["SimulationError", "SimulationReport", "StoreTotals", "run_simulation"]
