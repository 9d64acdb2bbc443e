"""The FastAPI application: Azul /api/v0 plus the dispatcher /api/v2 and /api/v3 routes."""
