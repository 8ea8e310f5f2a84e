"""Outgoing SMS, through the backend named by settings.SMS_BACKEND.

- ``console``: logs the message (development default).
- ``memory``: appends to the module-level ``outbox`` (tests read and clear it).
- ``http``: POSTs ``{"to", "text"}`` as JSON to SMS_HTTP_URL with
  ``Authorization: Bearer SMS_HTTP_TOKEN``; any failure (refused, timeout,
  non-2xx answer) raises SmsUnavailable (503 ``sms_unavailable``).

Callers send inside their transaction, so a failed send rolls back whatever
the send was for (no code is stored that nobody received).

Every message spends one unit of the day's budget (SMS_DAILY_BUDGET, all
messages of the deployment, UTC days), counted with one atomic increment in the
cache (Redis when configured, so every worker shares it). A spent budget
answers 503 ``sms_budget_exhausted`` and logs an alert: SMS pumping costs money
per message, and the budget caps what an attacker who gets past every
per-phone, per-user and per-address limit can spend. The ``console`` backend
logs codes: core.conf refuses to serve with it unless DEBUG is on.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from core.errors import SmsBudgetExhausted, SmsUnavailable, is_redis_unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str


# The memory backend's sent messages, oldest first.
outbox: list[SmsMessage] = []


def send_sms(*, to: str, text: str) -> None:
    """Send `text` to the E.164 number `to`; raises SmsUnavailable on failure and
    SmsBudgetExhausted when the day's budget is spent."""
    try:
        backend = _BACKENDS[settings.SMS_BACKEND]
    except KeyError:
        raise ImproperlyConfigured(
            f"SMS_BACKEND={settings.SMS_BACKEND!r}; use one of {', '.join(_BACKENDS)}"
        ) from None
    sms_budget_spend()
    backend(SmsMessage(to=to, text=text))


def budget_key(day=None) -> str:
    return f"sms_budget_{(day or timezone.now()).strftime('%Y%m%d')}"


def sms_budget_spend() -> int:
    """Count one message against today's SMS_DAILY_BUDGET; the count so far.

    Raises SmsBudgetExhausted past the budget (0: no budget), logging an alert
    once, when the first message is refused. The cache being down is
    SmsUnavailable: no budget check, no message.
    """
    budget = settings.SMS_DAILY_BUDGET
    if budget <= 0:
        return 0
    key = budget_key()
    try:
        cache.add(key, 0, timeout=2 * 86_400)
        try:
            spent = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=2 * 86_400)
            spent = 1
    except Exception as exc:
        if is_redis_unavailable(exc):
            raise SmsUnavailable() from exc
        raise
    if spent > budget:
        if spent == budget + 1:
            logger.error("ALERT: SMS daily budget of %s messages is spent; no more SMS "
                         "today (SMS_DAILY_BUDGET). Check for SMS pumping.", budget)
        raise SmsBudgetExhausted()
    return spent


def _console(message: SmsMessage) -> None:
    logger.info("SMS to %s: %s", message.to, message.text)


def _memory(message: SmsMessage) -> None:
    outbox.append(message)


def _http(message: SmsMessage) -> None:
    url = settings.SMS_HTTP_URL
    if not url.startswith(("http://", "https://")):
        logger.error("SMS_BACKEND=http needs SMS_HTTP_URL (http:// or https://), got %r", url)
        raise SmsUnavailable()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps({"to": message.to, "text": message.text}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {settings.SMS_HTTP_TOKEN}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.SMS_HTTP_TIMEOUT) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        logger.warning("SMS provider answered %s for %s", exc.code, message.to)
        raise SmsUnavailable() from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout
        logger.warning("SMS provider unreachable (%s) for %s", exc, message.to)
        raise SmsUnavailable() from exc


_BACKENDS: dict[str, Callable[[SmsMessage], None]] = {
    "console": _console,
    "memory": _memory,
    "http": _http,
}
