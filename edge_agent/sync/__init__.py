"""Store-and-forward to central: outbox items pushed over gRPC until acknowledged, and heartbeats."""
