"""The HTTP adapter: the FastAPI application."""
