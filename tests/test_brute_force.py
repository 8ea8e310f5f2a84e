"""Brute force, from the attacker's side: scripted guessing against the real endpoints.

tests/test_throttles.py checks each throttle's basics and tests/test_phone_verification.py
each rule of a code; this file attacks them. The bound on guesses at a 6-digit phone
code is computed from the configured limits, and a scripted attacker (several accounts,
new codes whenever the old one is spent, waiting out every 429) runs against it on a
simulated clock for days: it never gets a code accepted and never gets more guesses
checked than the bound. Counters must hold under concurrency too (threads; PostgreSQL for
the code's attempt counter), and throttles key on the address the server can trust.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from core.models import PhoneVerification
from core.throttles import ScopedThrottle
from tests.conftest import assert_error, client_for
from tests.factories import draw_url, make_draw, make_event

pytestmark = pytest.mark.django_db

SEND = "/api/accounts/phone/verification/"
CONFIRM = "/api/accounts/phone/verification/confirm/"
VICTIM = "+4915123456789"
DAY = 86_400
ROOT = Path(__file__).resolve().parent.parent


def per_day(rate: str) -> int:
    """Requests a fixed-window throttle of `rate` lets through in any 24 hours."""
    count, duration = ScopedThrottle.parse_rate(None, rate)
    return count * (DAY // duration + 1)


def max_code_guesses_per_day(conf) -> int:
    """The most guesses at phone codes one phone (or one account) gets checked in 24 h.

    Each code takes PHONE_CODE_MAX_ATTEMPTS wrong guesses; codes per phone are
    limited by the resend cooldown and the daily cap (whoever asks), codes per
    account by the daily cap and the code_send throttle; guesses per account also
    by the code_confirm throttle.
    """
    rates = conf.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    codes = min(
        conf.PHONE_CODE_MAX_PER_DAY,
        DAY // max(1, conf.PHONE_CODE_RESEND_SECONDS) + 1,
        per_day(rates["code_send"]),
        per_day(rates["code_send_address"]),
    )
    return min(codes * conf.PHONE_CODE_MAX_ATTEMPTS, per_day(rates["code_confirm"]))


@pytest.fixture
def clock(monkeypatch):
    """A simulated clock for codes (timezone.now) and throttles; `clock.advance(s)`."""

    class Clock:
        start = timezone.now()
        offset = 0.0

        def now(self):
            return self.start + timedelta(seconds=self.offset)

        def advance(self, seconds: float) -> None:
            self.offset += seconds

    fake = Clock()
    monkeypatch.setattr(timezone, "now", fake.now)
    monkeypatch.setattr(ScopedThrottle, "timer", staticmethod(lambda: fake.now().timestamp()))
    return fake


def codes_sent(outbox) -> list[str]:
    return [m.group(1) for m in (re.search(r"\b(\d{6})\b", sms.text) for sms in outbox) if m]


# --- the 6-digit phone code ---------------------------------------------------------


def test_configured_limits_allow_a_tiny_number_of_code_guesses_a_day():
    # The shipped defaults (settings read from the environment), not a test override.
    guesses = max_code_guesses_per_day(django_settings)
    assert guesses == 50  # 10 codes a day x 5 wrong guesses each
    # Chance that an attacker hits one phone's code within a day: 50 in 1,000,000;
    # a year of trying is under 2 %. Without the daily cap it would be 7,200 a day.
    assert guesses / 10**6 <= 5e-5


def test_scripted_attack_on_a_phone_code_never_succeeds(make_user, clock, sms_outbox):
    """Three accounts take turns at one victim's number for three simulated days."""
    attackers = [client_for(make_user(email=f"mallory{n}@example.com")) for n in range(3)]
    bound = max_code_guesses_per_day(django_settings)
    checked_per_day: dict[int, int] = {}
    statuses: set[tuple[int, str]] = set()
    guess = 0
    turn = 0
    while clock.offset < 3 * DAY:
        client = attackers[turn % len(attackers)]
        turn += 1
        sent = client.post(SEND, {"phone": VICTIM}, format="json")
        if sent.status_code == 429:
            statuses.add((429, sent.json()["code"]))
            clock.advance(sent.json()["retry_after_seconds"])
            continue
        assert sent.status_code == 202, sent.content
        secret = codes_sent(sms_outbox)[-1]
        day = int(clock.offset // DAY)  # a code's guesses count for the day it was sent
        while True:
            guess += 1
            # The attacker's guesses never include the code: the 5-in-a-million luck per
            # code is what the bound above prices; here we count how many get checked.
            attempt = f"{guess % 10**6:06d}" if f"{guess % 10**6:06d}" != secret else "999999"
            answer = client.post(CONFIRM, {"phone": VICTIM, "code": attempt}, format="json")
            body = answer.json()
            assert answer.status_code != 200, "an attacker's guess was accepted"
            statuses.add((answer.status_code, body["code"]))
            if body["code"] == "invalid_code":
                checked_per_day[day] = checked_per_day.get(day, 0) + 1
                continue
            if answer.status_code == 429:
                clock.advance(body["retry_after_seconds"])
                continue
            assert body["code"] in ("too_many_attempts", "code_expired"), body
            # The spent code stays spent, even for the right digits.
            right = client.post(CONFIRM, {"phone": VICTIM, "code": secret}, format="json")
            assert right.status_code in (400, 429) and right.json()["code"] != "invalid_code"
            break

    assert sorted(checked_per_day) == [0, 1, 2]
    assert max(checked_per_day.values()) <= bound
    assert (400, "too_many_attempts") in statuses
    assert (429, "code_daily_limit") in statuses
    assert PhoneVerification.objects.filter(verified_at__isnull=False).count() == 0
    assert sum(PhoneVerification.objects.values_list("attempts", flat=True)) == sum(
        checked_per_day.values()
    )


def test_one_account_cannot_spread_guesses_over_many_phones(user_api, clock, sms_outbox):
    """The daily cap also holds per account: fresh numbers do not give fresh codes."""
    limit = django_settings.PHONE_CODE_MAX_PER_DAY
    for n in range(limit):
        assert user_api.post(SEND, {"phone": f"+49151234{n:05d}"}, format="json").status_code == 202
        clock.advance(60)  # past the code_send throttle's window, as a patient script would
    body = assert_error(
        user_api.post(SEND, {"phone": "+4915129999999"}, format="json"), 429, "code_daily_limit"
    )
    # The first code leaves the 24-hour window after a day, minus the time spent sending.
    assert DAY - 60 * limit <= body["retry_after_seconds"] <= DAY
    clock.advance(body["retry_after_seconds"])
    assert user_api.post(SEND, {"phone": "+4915129999999"}, format="json").status_code == 202


# --- SMS pumping: what one address, and everyone together, can make us send ----------


def test_one_address_cycling_through_accounts_is_limited_per_address(make_user, rates, clock,
                                                                    sms_outbox):
    """Fresh accounts give fresh per-user budgets; the address budget still holds."""
    rates(code_send_address="3/hour")
    statuses = []
    for n in range(5):
        api = client_for(make_user(email=f"pump{n}@example.com"))
        statuses.append(api.post(SEND, {"phone": f"+49151230{n:05d}"}, format="json"))
    assert [r.status_code for r in statuses] == [202, 202, 202, 429, 429]
    assert_error(statuses[-1], 429, "throttled")
    assert len(sms_outbox) == 3
    # Another address has its own budget.
    api = client_for(make_user(email="elsewhere@example.com"))
    assert api.post(SEND, {"phone": "+4915129999990"}, format="json",
                    REMOTE_ADDR="203.0.113.9").status_code == 202


def test_the_daily_sms_budget_stops_everyone_and_raises_an_alert(make_user, settings, clock,
                                                                sms_outbox, caplog):
    settings.SMS_DAILY_BUDGET = 3
    answers = []
    for n in range(5):
        api = client_for(make_user(email=f"b{n}@example.com"))
        answers.append(api.post(SEND, {"phone": f"+49151231{n:05d}"}, format="json",
                                REMOTE_ADDR=f"198.51.100.{n}"))
    assert [r.status_code for r in answers] == [202, 202, 202, 503, 503]
    assert_error(answers[-1], 503, "sms_budget_exhausted")
    assert len(sms_outbox) == 3
    alerts = [r for r in caplog.records if "SMS daily budget" in r.getMessage()]
    assert len(alerts) == 1 and alerts[0].levelname == "ERROR"
    assert PhoneVerification.objects.count() == 3  # no code kept that was not sent
    clock.advance(DAY)  # a new (UTC) day, a new budget
    api = client_for(make_user(email="tomorrow@example.com"))
    assert api.post(SEND, {"phone": "+4915123199999"}, format="json",
                    REMOTE_ADDR="198.51.100.99").status_code == 202


def _race(count: int, call) -> list:
    """Run `call()` in `count` threads released together; their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(result is not None for result in results), "a thread did not finish"
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_guesses_cannot_exceed_the_attempt_limit(user, rates, sms_outbox):
    rates(code_confirm="1000/min")  # the attempt counter alone must hold
    client_for(user).post(SEND, {"phone": VICTIM}, format="json")
    secret = codes_sent(sms_outbox)[-1]
    wrong = f"{(int(secret) + 1) % 10**6:06d}"
    token = client_for(user)._credentials

    def guess():
        client = APIClient()
        client.credentials(**token)
        response = client.post(CONFIRM, {"phone": VICTIM, "code": wrong}, format="json")
        return response.status_code, response.json()["code"]

    results = _race(12, guess)
    limit = django_settings.PHONE_CODE_MAX_ATTEMPTS
    assert results.count((400, "invalid_code")) == limit
    assert results.count((400, "too_many_attempts")) == 12 - limit
    assert PhoneVerification.objects.get().attempts == limit
    assert_error(
        client_for(user).post(CONFIRM, {"phone": VICTIM, "code": secret}, format="json"),
        400, "too_many_attempts",
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_accounts_asking_at_once_get_one_code_for_a_phone(make_user, rates, sms_outbox):
    """Sends for one number are serialised: accounts racing for a victim's number
    cannot each slip past the cooldown and the day's cap with their own code."""
    rates(code_send="1000/min")
    clients = [client_for(make_user(email=f"racer{n}@example.com")) for n in range(8)]
    tokens = iter([c._credentials for c in clients])
    lock = threading.Lock()

    def send():
        with lock:
            credentials = next(tokens)
        client = APIClient()
        client.credentials(**credentials)
        response = client.post(SEND, {"phone": VICTIM}, format="json")
        return response.status_code, response.json().get("code")

    results = _race(8, send)
    created = [r for r in results if r[0] in (200, 201, 202)]
    assert len(created) == 1, results
    assert results.count((429, "code_resend_too_soon")) == 7, results
    assert PhoneVerification.objects.filter(phone=VICTIM).count() == 1


# --- passwords ----------------------------------------------------------------------


def test_password_guessing_is_stopped_even_when_the_right_one_comes(api, user, clock):
    """A dictionary attack on one account, then credential stuffing over many."""
    limit, _ = ScopedThrottle.parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES["login"])
    answers = []
    for n in range(limit + 5):
        answers.append(api.post("/api/auth/token/", {
            "email": "alice@example.com", "password": f"guess-{n}"}, format="json"))
    assert [a.status_code for a in answers[:limit]] == [401] * limit
    for answer in answers[limit:]:
        assert_error(answer, 429, "throttled")
    right = api.post("/api/auth/token/", {
        "email": "alice@example.com", "password": "correct-horse-battery"}, format="json")
    body = assert_error(right, 429, "throttled")
    assert "access" not in body
    # Other accounts from the same address: the same budget, already spent.
    assert_error(api.post("/api/auth/token/", {
        "email": "bob@example.com", "password": "guess"}, format="json"), 429, "throttled")
    clock.advance(body["retry_after_seconds"])
    assert api.post("/api/auth/token/", {
        "email": "alice@example.com", "password": "correct-horse-battery"},
        format="json").status_code == 200


def test_concurrent_logins_cannot_exceed_the_rate(rates, clock):
    """All at once (on the server run, through Redis): exactly the rate gets through."""
    rates(login="5/min")

    def attempt():
        response = APIClient().post("/api/auth/token/", {
            "email": "nobody@example.com", "password": "guess"}, format="json")
        return response.status_code

    results = _race(16, attempt)
    assert results.count(401) == 5
    assert results.count(429) == 11


# --- phone lookups ------------------------------------------------------------------


def test_enumerating_phone_endings_is_throttled(api, clock):
    draw = make_draw(make_event())
    limit, _ = ScopedThrottle.parse_rate(None, api_settings.DEFAULT_THROTTLE_RATES["phone_lookup"])
    statuses = []
    for last4 in range(limit + 10):
        response = api.get(draw_url(draw, "results"), {"phone_last4": f"{last4:04d}"},
                           HTTP_X_FORWARDED_FOR=f"198.51.100.{last4}")
        statuses.append(response.status_code)
    assert statuses == [200] * limit + [429] * 10
    body = assert_error(response, 429, "throttled")
    # At this rate all 10,000 endings of one draw take 10,000 / limit minutes per address.
    assert 1 <= body["retry_after_seconds"] <= 60


def test_behind_one_proxy_forged_forwarded_for_still_counts_as_the_client(
    api, settings, rates, clock
):
    """nginx appends the peer's address: with NUM_PROXIES=1 only that last entry counts."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(phone_lookup="3/min")
    draw = make_draw(make_event())
    url = draw_url(draw, "results") + "?phone_last4=1234"
    nginx = {"REMOTE_ADDR": "172.18.0.5"}
    for n in range(3):
        forged = f"10.0.0.{n}, 203.0.113.7"  # client-written part, then nginx's entry
        assert api.get(url, HTTP_X_FORWARDED_FOR=forged, **nginx).status_code == 200
    assert_error(api.get(url, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7", **nginx),
                 429, "throttled")
    # Another real client behind the same proxy has its own budget.
    assert api.get(url, HTTP_X_FORWARDED_FOR="203.0.113.8", **nginx).status_code == 200


def test_compose_trusts_exactly_the_one_proxy_it_runs():
    """docker-compose puts one nginx (which appends to X-Forwarded-For) before daphne."""
    nginx = (ROOT / "deploy/nginx.conf").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx
    assert re.search(r"^\s+NUM_PROXIES: \"?1\"?\s*$", compose, re.M)
    # The workers publish no port of their own, so nothing reaches them around nginx.
    workers = compose.split("  web1:")[1].split("  scheduler1:")[0]
    assert "ports:" not in workers


# --- the admin login: throttled like the API login, locked after failures ------------------


ADMIN_LOGIN = "/admin/login/"


def admin_login(client, email, password, address="192.0.2.10"):
    return client.post(ADMIN_LOGIN, {"username": email, "password": password,
                                     "next": "/admin/"}, REMOTE_ADDR=address)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def admin_staff(make_user):
    return make_user(email="ops@example.com", password="correct-horse-battery",
                     is_staff=True, is_superuser=True)


def test_admin_login_is_throttled_like_the_api_login(admin_staff, rates, clock):
    from django.test import Client

    rates(login="3/min")
    client = Client()
    answers = [admin_login(client, "ops@example.com", f"guess-{n}") for n in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) >= 1
    # The same budget as the API login: one address cannot alternate between them.
    api = APIClient(REMOTE_ADDR="192.0.2.10")
    assert_error(api.post("/api/auth/token/", {"email": "ops@example.com", "password": "x"},
                          format="json"), 429, "throttled")


def test_admin_login_locks_an_account_out_after_repeated_failures(admin_staff, settings,
                                                                  rates, caplog):
    import time

    from django.test import Client

    rates(login="1000/min")
    settings.LOGIN_LOCKOUT_SECONDS = 2
    limit = settings.LOGIN_LOCKOUT_FAILURES
    for n in range(limit):  # spread over addresses: the account's count is what locks
        assert admin_login(Client(), "OPS@example.com", f"guess-{n}",
                           address=f"198.51.100.{n}").status_code == 200
    locked = admin_login(Client(), "ops@example.com", "correct-horse-battery",
                         address="203.0.113.50")
    assert not signed_in(locked)
    assert "Too many failed sign-ins" in locked.content.decode()
    lines = [r for r in caplog.records if r.name == "core.lockout" and r.levelname == "WARNING"]
    assert len(lines) == 1 and "locked out" in lines[0].getMessage()
    time.sleep(settings.LOGIN_LOCKOUT_SECONDS + 0.5)  # the cache's TTL is real time
    assert signed_in(admin_login(Client(), "ops@example.com", "correct-horse-battery",
                                 address="203.0.113.50"))


def test_admin_login_locks_an_address_out_after_failures_over_many_accounts(
        admin_staff, make_user, settings, rates):
    from django.test import Client

    rates(login="1000/min")
    settings.LOGIN_LOCKOUT_ADDRESS_FAILURES = 3
    for n in range(3):
        admin_login(Client(), f"target{n}@example.com", "guess", address="198.51.100.77")
    assert not signed_in(admin_login(Client(), "ops@example.com", "correct-horse-battery",
                                     address="198.51.100.77"))
    # The owner from their own address is not locked out by someone else's address.
    assert signed_in(admin_login(Client(), "ops@example.com", "correct-horse-battery",
                                 address="203.0.113.51"))


# --- waitlist -----------------------------------------------------------------------


def test_email_probing_through_waitlist_join_is_throttled(api, user, rates, clock):
    """join answers 409 for a known email: probing addresses runs into waitlist_join."""
    rates(waitlist_join="3/min")
    answers = [api.post("/api/waitlist/join/", {"email": email}, format="json")
               for email in ("a@example.com", "alice@example.com", "c@example.com")]
    assert [a.status_code for a in answers] == [201, 409, 201]
    assert_error(api.post("/api/waitlist/join/", {"email": "alice@example.com"},
                          format="json"), 429, "throttled")
    # Guessing email-confirmation tokens shares the budget.
    assert_error(api.post("/api/waitlist/confirm-email/", {"token": "guess"}, format="json"),
                 429, "throttled")


# --- where the counts live ------------------------------------------------------------


@pytest.mark.redis
def test_throttles_count_in_redis_on_the_server_run(api, settings, rates, clock):
    from django.core.cache import caches

    from core.redis import get_redis

    assert caches["default"].__class__.__name__ == "RedisCache"
    assert ScopedThrottle.cache._alias == "default"
    rates(phone_lookup="2/min")
    draw = make_draw(make_event())
    url = draw_url(draw, "results") + "?phone_last4=1234"
    api.get(url)
    api.get(url)
    [key] = get_redis().scan_iter(match=f"{settings.REDIS_PREFIX}:cache:*throttle_phone_lookup*")
    assert int(get_redis().get(key)) == 2
