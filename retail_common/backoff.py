"""How long to wait after the n-th failure in a row: exponential, capped, with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float
    max_s: float
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Counts a failure; the wait before the next attempt (uniform in [cap/2, cap], so agents spread out)."""
        cap = min(self.max_s, self.initial_s * 2.0**self.failures)
        self.failures += 1
        return self.rng.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.failures = 0
