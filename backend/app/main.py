"""The API application: `create_app(settings)` builds it; `orca api` serves it with uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from fastapi import FastAPI

from app import __version__
from app.api import (
    audit,
    auth,
    credentials,
    executions,
    grants,
    groups,
    health,
    jobs,
    metrics,
    retention,
    schedules,
    stats,
    systems,
    teams,
    templates,
    users,
    workers,
    ws,
)
from app.auth.dependencies import API_PREFIX
from app.connectors.registry import Connectors
from app.core import memory
from app.core.config import Settings
from app.core.console import mount_console
from app.core.db import create_sessionmaker, engine_from_settings
from app.core.errors import ERROR_RESPONSES, install_error_handlers
from app.core.metrics import ApiMetrics, MetricsMiddleware
from app.core.middleware import MethodGuard, RequestIdMiddleware, RequestLimits
from app.core.redis import create_redis
from app.core.vault import Vault
from app.services.dispatch import Dispatcher


def create_app(settings: Settings) -> FastAPI:
    settings.require("database_url", "redis_url")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url is not None and settings.redis_url is not None
        engine = engine_from_settings(settings, "orca-api")
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = create_redis(settings.redis_url.get_secret_value())
        app.state.connectors = Connectors.from_settings(settings)
        # Enqueues on the same connections (arq's client is a Redis client with enqueue_job).
        app.state.arq = ArqRedis(pool_or_conn=app.state.redis.connection_pool)
        app.state.dispatcher = Dispatcher(app.state.sessionmaker, app.state.arq, settings)
        collector = asyncio.create_task(memory.collect_periodically())
        try:
            yield
        finally:
            collector.cancel()
            await app.state.connectors.close()
            await app.state.redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Orca",
        # Operation ids are the handlers' names (unique, checked by a test), so the web
        # console's generated client has readable hooks: `useListJobsQuery`, not
        # `useListJobsApiV1JobsGetQuery`.
        generate_unique_id_function=lambda route: route.name,
        version=__version__,
        summary="Run commands and scripts across Linux (SSH) and Windows (WinRM) fleets.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    # Built here, not in the lifespan: a bad key fails create_app() at once.
    app.state.vault = Vault.from_settings(settings) if settings.encryption_keys else None
    app.state.metrics = ApiMetrics()
    install_error_handlers(app)
    # Outermost last: request id, then metrics (which time the refusals too), then the size
    # limits, then the method guard.
    app.add_middleware(MethodGuard, routes=lambda: app.routes)
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics, routes=lambda: app.routes)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for module in (
        auth,
        users,
        teams,
        groups,
        grants,
        credentials,
        systems,
        jobs,
        templates,
        schedules,
        executions,
        workers,
        audit,
        stats,
        retention,
        ws,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    app.state.console = mount_console(app, settings.console_dir)
    return app
