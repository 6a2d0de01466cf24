"""Model rollouts: the state machine (pure), its storage, the planner that advances it, the A/B comparison."""
