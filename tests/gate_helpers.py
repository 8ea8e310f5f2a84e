"""Helpers for the signed-ticket and gate tests (and bench/gate_scan.py): sold tickets
without the HTTP path, a gate account, a gate."""

from __future__ import annotations

from django.contrib.auth.models import Permission

from tests.ticketing_helpers import fund
from ticketing.models import Ticket
from ticketing.services.holds import hold_create
from ticketing.services.orders import hold_purchase


def sell(event, user, seat_ids: list[int]) -> list[Ticket]:
    """`user` buys `seat_ids` of `event` through the services; -> their tickets by id."""
    fund(user, 10_000_000)
    held = hold_create(event=event, user=user, seat_ids=seat_ids)
    order = hold_purchase(token=held.token, user=user)
    return sorted(order.tickets.all(), key=lambda t: t.pk)


def grant_scan(user) -> None:
    """Give `user` the gate role's permission (not staff)."""
    user.user_permissions.add(Permission.objects.get(
        codename="scan_ticket", content_type__app_label="ticketing"))
