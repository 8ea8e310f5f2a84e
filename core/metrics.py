"""Prometheus metrics (prometheus-client), served at /metrics.

Each daphne worker keeps its own registry and is scraped on its own port
(docs/scaling.md); nothing here is shared between processes. The names are
the contract with dashboards: change them only with the dashboards.
"""

from __future__ import annotations

import ipaddress
import time

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from core.errors import error_body

HTTP_LATENCY = Histogram(
    "tombola_http_request_duration_seconds",
    "HTTP request latency by view.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WS_CONNECTIONS = Gauge(
    "tombola_ws_connections", "Open WebSocket connections by stream kind.", ["kind"]
)
MESSAGES_PUBLISHED = Counter(
    "tombola_stream_messages_published_total", "Messages published by stream kind.", ["kind"]
)
RESUMES = Counter(
    "tombola_stream_resumes_total", "Resumes served, by outcome (replayed or reset).", ["outcome"]
)
SEQ_GAPS = Counter(
    "tombola_stream_seq_gaps_total", "Seq gaps detected while relaying (messages lost).", ["kind"]
)
MESSAGES_DROPPED = Counter(
    "tombola_stream_messages_dropped_total",
    "Messages a worker's relay dropped because a socket's inbox was full.", ["kind"],
)
SEAT_MAP_RESTORES = Counter(
    "tombola_seat_map_restores_total",
    "Event seat maps put back into Redis from the database (Redis had lost them).",
)
REPLICA_READS = Counter(
    "tombola_replica_reads_total",
    "Read-only selectors run with a replica configured, by the database that served them.",
    ["database"],
)
REPLICA_FALLBACKS = Counter(
    "tombola_replica_fallbacks_total",
    "Times the replica was left alone for a while (unavailable, lagging, not_in_recovery).",
    ["reason"],
)
LIVE_HOLDS = Gauge("tombola_live_holds", "Seat holds created and not yet released or expired.")
DRAW_DURATION = Histogram(
    "tombola_draw_perform_duration_seconds", "Time to perform a draw.", ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)


def stream_kind_label(stream: str) -> str:
    return stream.split(":", 1)[0]


# (request, view name, seconds) callbacks apps register in ready(), e.g. the waiting
# room's latency samples (ticketing): core reads no app's data itself.
_request_observers: list = []


def add_request_observer(func) -> None:
    if func not in _request_observers:
        _request_observers.append(func)


class MetricsMiddleware:
    """Times every request, labelled by the URL pattern's name (not the raw path)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route) if match else "unmatched"
        seconds = time.perf_counter() - started
        HTTP_LATENCY.labels(view, request.method, f"{response.status_code // 100}xx").observe(
            seconds)
        for observe in _request_observers:
            observe(request, view, seconds)
        return response


def _client_allowed(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request):
    """Prometheus text format, for staff or scrapers on METRICS_ALLOWED_NETWORKS."""
    if not _client_allowed(request):
        return JsonResponse(
            error_body("permission_denied", "Metrics are for staff and allowed networks."),
            status=403,
        )
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
