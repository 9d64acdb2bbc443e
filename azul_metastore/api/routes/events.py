"""Dispatcher-compatible event API (``/api/v2/event``): what Azul plugins and clients post to and
fetch from. Thin: parse, call the intake or dispatch service, format."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Literal

import anyio
import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from azul_metastore.api.auth import service_identity
from azul_metastore.api.deps import services
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.errors import BadRequest, InvalidInput
from azul_metastore.events.dispatch import ConsumerFilters, multipart_body
from azul_metastore.events.intake import check_model, event_json, parse_batch
from azul_metastore.ingest.indexing import MODELS as INDEXED_MODELS

# Plugins and services only: an authenticated identity holding one of auth_service_roles (api/auth.py).
router = APIRouter(tags=["dispatcher events"], dependencies=[Depends(service_identity)])

MAX_DEADLINE_SECONDS = 60


@router.post("/event")
async def post_events(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    model: str,
    include_ok: bool = False,
    sync: bool = False,
    pause_plugins: bool = False,
    avro_format: Annotated[bool, Query(alias="avro-format")] = False,
    refresh: bool = False,
) -> Response:
    """Validate each event on its own; publish the valid ones; report every failure by index.

    ``sync`` and ``pause_plugins`` are accepted for compatibility: publishing is always synchronous
    here (the call returns once the events are durable), and there is no plugin pause.
    ``refresh=true`` also indexes the accepted events before answering, so they are searchable when
    the call returns (the ingestor's later pass over them is an idempotent rewrite).
    """
    if avro_format:
        raise InvalidInput("avro-format=true is not supported; post JSON events")
    check_model(model)
    body = await request.body()
    raw = parse_batch(body)
    result = await run_in_threadpool(svc.intake.post, model, raw)
    if refresh and result.accepted and model in INDEXED_MODELS:
        events = [event_json(e) for e in result.accepted]
        await run_in_threadpool(svc.indexer().index, model, events)
        await run_in_threadpool(svc.index.refresh)  # writes are searchable from the next refresh
    payload = result.response(include_ok)
    if result.failures and not result.accepted:
        raise InvalidInput(
            f"all {len(result.failures)} events were rejected: {result.failures[0].error}"
            + (" (and more; see parameters.failures)" if len(result.failures) > 1 else ""),
            failures=payload["failures"],
        )
    return JSON(payload)


@router.post("/event/simulate")
async def simulate_event(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    """Which consumers of binary events would take the posted binary event, and which filter drops
    it for the others (Azul's ``EventSimulate``): the filters of each consumer's latest fetch."""
    body = await request.body()
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body must be one binary event as JSON: {exc}") from None
    result = svc.intake.validate("binary", [raw])
    if result.failures:
        raise InvalidInput(result.failures[0].error.removeprefix("event 0: "))
    (event,) = result.accepted
    verdicts = await run_in_threadpool(svc.dispatch.simulate, event)
    return JSON({"consumers": [{"name": v.name, "version": v.version, "filter_out": v.filter_out,
                                "filter_out_trigger": v.filter_out_trigger} for v in verdicts]})


#: threads for long polls of ``GET /event``, apart from the pool every other sync route and
#: ``run_in_threadpool`` share (40 threads): idle plugins each holding a thread for up to a minute
#: starved the plugins posting their results
LONG_POLLS = anyio.CapacityLimiter(256)


@router.get("/event/{model}/{mode}")
async def get_events(
    svc: Annotated[Services, Depends(services)],
    model: str,
    mode: Literal["active", "passive"],
    name: str,
    version: str = "",
    count: Annotated[int, Query(ge=1, le=10_000)] = 1,
    deadline: Annotated[float, Query(ge=0)] = 1,
    deny_actions: Annotated[list[str], Query(alias="d-action")] = [],
    deny_self: Annotated[bool, Query(alias="d-self")] = False,
    require_expedite: Annotated[bool, Query(alias="r-expedite")] = False,
    require_live: Annotated[bool, Query(alias="r-live")] = False,
    require_historic: Annotated[bool, Query(alias="r-historic")] = False,
    require_content: Annotated[bool, Query(alias="r-content")] = False,
    require_sources: Annotated[list[str], Query(alias="r-source")] = [],
    require_under: Annotated[int, Query(alias="r-under-content-size", ge=0, le=2**63 - 1)] = 0,
    require_over: Annotated[int, Query(alias="r-over-content-size", ge=0, le=2**63 - 1)] = 0,
    require_actions: Annotated[list[str], Query(alias="r-action")] = [],
    require_streams: Annotated[list[str], Query(alias="r-streams")] = [],
    is_task: Annotated[bool, Query(alias="is-task")] = False,
) -> Response:
    """Hand out up to ``count`` events, waiting up to ``deadline`` seconds for some to arrive.

    ``is-task`` is accepted for compatibility: ``active`` alone records dequeues, as in Azul,
    whose passive mode drops the flag."""
    check_model(model)
    active = mode == "active"
    filters = ConsumerFilters(
        deny_actions=deny_actions,
        deny_self=deny_self,
        require_actions=require_actions,
        require_content=require_content,
        require_under_content_size=require_under,
        require_over_content_size=require_over,
        require_streams=require_streams,
        require_sources=require_sources,
    )
    lanes = svc.dispatch.binary_topics(name, require_expedite, require_live, require_historic, active)
    delivery = await anyio.to_thread.run_sync(
        functools.partial(svc.dispatch.get_events, model, name, version, count, min(deadline, MAX_DEADLINE_SECONDS),
                          active, filters, lanes),
        limiter=LONG_POLLS)
    boundary = uuid.uuid4().hex
    return Response(
        multipart_body(delivery.info, delivery.events, boundary),
        media_type=f"multipart/form-data; boundary={boundary}",
    )
