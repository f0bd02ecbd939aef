"""The HTTP API (FastAPI): routers by resource, auth, errors, pagination."""
