"""Frames in, track summaries, zone and line counts and heatmaps out."""
