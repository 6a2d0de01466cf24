"""The central REST API (FastAPI): ``create_app`` in ``app.py``, one module per resource in ``routes/``."""
