"""Ingest: pushed items from agents, validated one by one, stored exactly once, rollups kept current."""
