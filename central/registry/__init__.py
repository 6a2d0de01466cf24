"""Central's bridge to the MLflow model registry and its own cache of the model files it serves agents."""
