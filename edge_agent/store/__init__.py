"""The agent's local SQLite store (WAL) of anonymous summaries, heatmap tiles and line counts."""

from edge_agent.store.sqlite_store import EdgeStore, StoreError

__all__ = ["EdgeStore", "StoreError"]
