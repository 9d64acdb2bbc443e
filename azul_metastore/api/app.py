"""The FastAPI application factory. Every route table is listed in ``ROUTERS`` so the whole API
fits on one screen: Azul's metastore REST API under ``/api/v0`` and the dispatcher-side event and
stream APIs under ``/api/v2`` and ``/api/v3``.
"""

from __future__ import annotations

from fastapi import FastAPI

from azul_metastore import __version__
from azul_metastore.api.errors import install_error_handlers
from azul_metastore.api.routes import binaries as binaries_routes
from azul_metastore.api.routes import content_views as content_views_routes
from azul_metastore.api.routes import downloads as downloads_routes
from azul_metastore.api.routes import events as events_routes
from azul_metastore.api.routes import features as features_routes
from azul_metastore.api.routes import lifecycle as lifecycle_routes
from azul_metastore.api.routes import plugins as plugins_routes
from azul_metastore.api.routes import purge as purge_routes
from azul_metastore.api.routes import security as security_routes
from azul_metastore.api.routes import sources as sources_routes
from azul_metastore.api.routes import statistics as statistics_routes
from azul_metastore.api.routes import streams as streams_routes
from azul_metastore.api.routes import submit as submit_routes
from azul_metastore.api.routes import tags as tags_routes
from azul_metastore.api.routes import users as users_routes
from azul_metastore.app import Services

#: (router, prefix): the complete route table of the server
ROUTERS = [
    (events_routes.router, "/api/v2"),
    (streams_routes.router, "/api/v3"),
    (binaries_routes.router, "/api/v0"),
    (features_routes.router, "/api/v0"),
    (plugins_routes.router, "/api/v0"),
    (sources_routes.router, "/api/v0"),
    (statistics_routes.router, "/api/v0"),
    (content_views_routes.router, "/api/v0"),
    (submit_routes.router, "/api/v0"),
    (downloads_routes.router, "/api/v0"),
    (tags_routes.router, "/api/v0"),
    (users_routes.router, "/api/v0"),
    (purge_routes.router, "/api/v0"),
    (lifecycle_routes.router, "/api/v0"),
    (security_routes.router, "/api"),  # /api/v0/security..., /api/v1/security/... (restapi-server paths)
]


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Azul metastore",
        version=__version__,
        description="Standalone, Azul-compatible malware metastore.",
    )
    app.state.services = services
    install_error_handlers(app)
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)
    return app
