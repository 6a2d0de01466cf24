"""``python -m fleet_sim`` is ``retail-fleet-sim``."""

from fleet_sim.cli import main

if __name__ == "__main__":
    main()
