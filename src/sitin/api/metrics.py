"""``GET /metrics``: the server's state in Prometheus text format, for the operator.

It counts every project's bots, so no project's API key opens it: it is off unless the operator
sets ``SITIN_METRICS_TOKEN``, and then answers only ``Authorization: Bearer <that token>``
(Prometheus's ``authorization`` scrape setting). Only counts and worker names, never ids of
bots or projects, never content.
"""

import hmac
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from sitin.api.responses import JsonResponse
from sitin.context import AppContext
from sitin.core.states import BotState
from sitin.core.timefmt import utcnow
from sitin.db import gauges, workers

router = APIRouter(include_in_schema=False)


class _Snapshot:
    """One reading of everything, turned into metric families by ``collect``."""

    def __init__(self, ctx: AppContext):
        live_since = utcnow() - timedelta(seconds=ctx.settings.heartbeat_timeout)
        with ctx.db.read() as conn:
            self.bots = gauges.bots_by_state(conn)
            self.workers = workers.loads(conn, heard_since=live_since)
            self.webhook_backlog = gauges.webhook_backlog(conn)
            self.journal = gauges.deletion_journal_length(conn)
        self.queue_depth = ctx.queue.pending_count()
        self.now = utcnow()

    def collect(self):
        bots = GaugeMetricFamily("sitin_bots", "Bots by state, every project", labels=["state"])
        for state in BotState:
            bots.add_metric([state.value], self.bots.get(state.value, 0))
        yield bots
        labels = ["worker"]
        capacity = GaugeMetricFamily(
            "sitin_worker_capacity_units", "Load units the worker carries", labels=labels
        )
        load = GaugeMetricFamily(
            "sitin_worker_load_units", "Load units of the bots the worker runs", labels=labels
        )
        running = GaugeMetricFamily("sitin_worker_bots", "Bots the worker runs", labels=labels)
        silence = GaugeMetricFamily(
            "sitin_worker_heartbeat_age_seconds", "Since the worker's last heartbeat", labels=labels
        )
        for worker in self.workers:
            capacity.add_metric([worker.name], worker.capacity)
            load.add_metric([worker.name], worker.load)
            running.add_metric([worker.name], worker.bots)
            silence.add_metric([worker.name], (self.now - worker.heartbeat_at).total_seconds())
        yield from (capacity, load, running, silence)
        yield GaugeMetricFamily(
            "sitin_queue_depth", "Tasks waiting in the task queue", value=self.queue_depth
        )
        yield GaugeMetricFamily(
            "sitin_webhook_backlog",
            "Webhook deliveries waiting to be sent",
            value=self.webhook_backlog,
        )
        yield GaugeMetricFamily(
            "sitin_deletion_journal_length",
            "Deleted bots whose blobs are still being removed",
            value=self.journal,
        )


def render(ctx: AppContext) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(ctx))
    return generate_latest(registry)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    token = ctx.settings.metrics_token
    if token is None:
        return JsonResponse(
            {
                "error": "metrics are off on this server: the operator sets SITIN_METRICS_TOKEN "
                "and scrapes with `Authorization: Bearer <token>`"
            },
            404,
        )
    given = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return JsonResponse(
            {"error": "send the metrics token as `Authorization: Bearer <SITIN_METRICS_TOKEN>`"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = await run_in_threadpool(render, ctx)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
