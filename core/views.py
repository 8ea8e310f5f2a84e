"""Health endpoints: /healthz says the process is alive, /readyz that it can serve."""

from django.db import connection
from django.http import JsonResponse

from core.failpoints import failpoint
from core.redis import get_redis


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    failpoint("http.readyz")
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # any failure to reach the database means "not ready"
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    client = get_redis()
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # connection refused, timeout, auth...
            checks["redis"] = f"unavailable: {exc.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    failed = [name for name, value in checks.items() if value != "ok"]
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    if not ready:
        body.update(code="not_ready", detail=f"Unavailable: {', '.join(failed)}.")
    return JsonResponse(body, status=200 if ready else 503)
