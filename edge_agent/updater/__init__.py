"""Model updates from central: download, verify, smoke-test, swap between detector batches, roll back."""
