"""Camera and file ingest through OpenCV."""
