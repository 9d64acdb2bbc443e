"""FastAPI dependencies: how a route reaches the services built by the composition root.

Routes never build adapters; they ask for what they need here, and tests swap the whole
``Services`` object on ``app.state`` instead of patching modules.
"""

from __future__ import annotations

from fastapi import Request

from azul_metastore.app import Services


def services(request: Request) -> Services:
    return request.app.state.services
