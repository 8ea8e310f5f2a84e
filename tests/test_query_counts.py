"""The hot paths' statement counts, pinned so that they do not creep back (issue 11).

Counted through the API as a phone calls it (a JWT with the session claims, so
no user query), on each hold backend. Statements include the savepoints the
test's own transaction turns BEGIN/COMMIT into (a server sends BEGIN lazily: a
hold that Redis refuses sends nothing to PostgreSQL after the event lookup). The
limits are today's counts: lower them when a change saves a statement, and
raise one only with the reason in the commit.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import client_for
from tests.ticketing_helpers import fund, hold, seats

pytest_plugins = ["tests.ticketing_fixtures"]

# (granted hold, refused hold, purchase) per hold backend. The database backend
# writes HeldSeat rows where Redis runs a script. The purchase includes its
# Idempotency-Key row (insert and final update). A granted hold counts the user's
# live seats of the event (the per-user cap and hold window, issue 14) under a lock
# per (user, event): on PostgreSQL an advisory lock and a query, 2 statements (SQLite
# needs no lock: 1); a refused hold stops before both. A purchase on PostgreSQL
# reads its event's status again under FOR SHARE (an unpublish committing during
# the purchase must not be followed by a sale): 1 statement SQLite does not need.
LIMITS = {
    "db": {"granted": 14, "refused": 6, "purchase": 19},
    "redis": {"granted": 10, "refused": 4, "purchase": 17},
}


def _statements(action) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = action()
    return result, [q["sql"] for q in captured.captured_queries]


def test_a_granted_hold_runs_a_handful_of_statements(user, sale, backend):
    api = client_for(user)
    wanted = seats(sale, "A", "1", 1, 2)
    response, statements = _statements(lambda: hold(api, sale, wanted))
    assert response.status_code == 201, response.content
    assert len(statements) <= LIMITS[backend]["granted"], "\n".join(statements)


def test_a_refused_hold_runs_fewer(user, other_user, sale, backend):
    taken = seats(sale, "A", "1", 3)
    assert hold(client_for(other_user), sale, taken).status_code == 201
    api = client_for(user)
    response, statements = _statements(lambda: hold(api, sale, taken))
    assert response.status_code == 409, response.content
    assert len(statements) <= LIMITS[backend]["refused"], "\n".join(statements)


def test_a_purchase_runs_the_statements_it_needs(user, sale, backend):
    fund(user)
    api = client_for(user)
    held = hold(api, sale, seats(sale, "B", "2", 1, 2, 3))
    assert held.status_code == 201
    response, statements = _statements(lambda: api.post(
        f"/api/holds/{held.json()['token']}/purchase/", HTTP_IDEMPOTENCY_KEY="k-1"))
    assert response.status_code == 201, response.content
    assert len(statements) <= LIMITS[backend]["purchase"], "\n".join(statements)
    # The answer built from memory says exactly what reading the order back says.
    body = response.json()
    assert sorted(t["seat"] for t in body["tickets"]) == ["1", "2", "3"]
    assert api.get(f"/api/orders/{body['id']}/").json() == body


# The "mine" lists and the public reads answer in a fixed number of statements,
# however many rows the page has (issue 15): the count, the page, and at most one
# batch read per page (holds' seats: two; entries of external draws: one).
LIST_LIMITS = {
    "/api/accounts/me/entries/": 3,
    "/api/accounts/me/holds/": 4,
    "/api/accounts/me/referrals/": 2,
    "/api/accounts/me/payments/": 2,
    "/api/tickets/": 2,
    "/api/orders/": 3,  # orders, and their tickets with seat, row and section
    "/api/venues/": 2,
    "/api/winning-ballots/": 2,
}


def _mine(user, sale, *, first: int, rows: int) -> None:
    """`rows` more of everything the lists show: entries (one won), a bought ticket, a
    live hold, a referral, a payment."""
    from django.test import TestCase

    from core.models import User
    from live.services.draws import draw_enter
    from live.services.performing import draw_perform
    from tests.factories import make_draw
    from tests.ticketing_helpers import committed
    from ticketing.services.payments import payment_start

    api = client_for(user)
    fund(user)
    for n in range(first, first + rows):
        draw = make_draw(sale, title=f"Raffle {n}")
        draw_enter(draw=draw, user=user, numbers=None)
        pot = make_draw(sale, kind="lottery", title=f"Pot {n}", lottery_mode="single_ballot",
                        prizes=[{"name": "Pot", "rank": 1}])
        draw_enter(draw=pot, user=user, numbers=[1, 2, 3])
        with TestCase.captureOnCommitCallbacks(execute=True):
            draw_perform(draw=pot, actor=None, source="test")
        token = committed(hold, api, sale, seats(sale, "A", "2", n + 1)).json()["token"]
        committed(api.post, f"/api/holds/{token}/purchase/")
        committed(hold, api, sale, seats(sale, "A", "3", n + 1))
        User.objects.create_user(email=f"ref{n}-{user.pk}@example.com", referred_by=user)
        payment_start(user=user, amount=1_000 + n)


def test_the_mine_lists_run_a_fixed_number_of_statements(
        user, sale, backend, settings, django_assert_max_num_queries):
    settings.TICKETING_MAX_HELD_SEATS_PER_USER = 100
    api = client_for(user)
    counts = {}
    for first, rows in ((0, 1), (1, 3)):
        _mine(user, sale, first=first, rows=rows)
        for path, limit in LIST_LIMITS.items():
            with django_assert_max_num_queries(limit) as captured:
                response = api.get(path)
            assert response.status_code == 200, (path, response.content)
            assert response.json()["count"] >= 1, path
            counts.setdefault(path, set()).add(len(captured))
    assert all(len(seen) == 1 for seen in counts.values()), counts
