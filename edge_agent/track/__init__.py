"""Multi-object tracking of detected people (ByteTrack)."""
