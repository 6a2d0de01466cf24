"""Zones, counting lines and heatmaps: pure decision logic on image points and timestamps."""
