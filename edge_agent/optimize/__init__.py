"""Cheaper detectors made on the edge box itself: INT8 calibrated on the store's own frames, checked before use."""
