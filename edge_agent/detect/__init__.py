"""Person detectors behind one interface, chosen by the config's ``type``."""

from edge_agent.detect.base import Detector, DetectorError, build_detector

__all__ = ["Detector", "DetectorError", "build_detector"]
