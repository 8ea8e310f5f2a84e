"""Live actions queue webhooks and write audit entries inside their own transaction."""

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from live.errors import AlreadyPerformed
from live.models import Winner
from live.services.performing import draw_perform, draw_redraw
from tests.conftest import client_for
from tests.factories import make_draw, make_entrants

pytestmark = pytest.mark.django_db

PRIZES = [{"name": "TV", "rank": 1}, {"name": "Mug", "rank": 2, "quantity": 2}]


@pytest.fixture
def draw():
    draw = make_draw(prizes=PRIZES)
    WebhookEndpoint.objects.create(event=draw.event, url="http://127.0.0.1:9/hook")
    make_entrants(draw, 8)
    return draw


def kinds() -> list[str]:
    return sorted(WebhookDelivery.objects.values_list("kind", flat=True))


def test_perform_queues_performed_and_one_winner_webhook_per_prize(draw, staff):
    draw_perform(draw=draw, actor=staff, source="api")
    assert kinds() == ["draw.performed", "draw.winner", "draw.winner"]
    by_prize = {d.payload["data"]["prize"]["name"]: d.payload["data"]
                for d in WebhookDelivery.objects.filter(kind="draw.winner")}
    assert len(by_prize["TV"]["winners"]) == 1 and len(by_prize["Mug"]["winners"]) == 2
    performed = WebhookDelivery.objects.get(kind="draw.performed").payload
    assert performed["event_id"] == draw.event_id
    assert performed["data"]["draw_id"] == draw.pk and performed["data"]["winners_count"] == 3


def test_perform_writes_one_audit_entry_with_the_actor(draw, staff):
    draw_perform(draw=draw, actor=staff, source="admin")
    entry = AuditEntry.objects.get(action="draw.performed")
    assert entry.actor_id == staff.pk
    assert entry.object_type == "live.draw" and entry.object_id == str(draw.pk)
    assert entry.data["actor"] == f"admin:{staff.pk}" and entry.data["winners_count"] == 3


def test_scheduler_perform_is_audited_without_a_user(draw):
    draw_perform(draw=draw, actor=None, source="scheduler")
    assert AuditEntry.objects.get(action="draw.performed").actor_id is None


def test_rolled_back_perform_leaves_no_delivery_and_no_audit(draw):
    with pytest.raises(RuntimeError), transaction.atomic():
        draw_perform(draw=draw, actor=None, source="scheduler")
        raise RuntimeError("the caller's transaction fails after the perform")
    assert not WebhookDelivery.objects.exists()
    assert not AuditEntry.objects.filter(action="draw.performed").exists()
    assert not Winner.objects.exists()


def test_refused_perform_leaves_no_delivery_and_no_audit(draw):
    draw_perform(draw=draw, actor=None, source="scheduler")
    before = (WebhookDelivery.objects.count(), AuditEntry.objects.count())
    with pytest.raises(AlreadyPerformed):
        draw_perform(draw=draw, actor=None, source="scheduler")
    assert (WebhookDelivery.objects.count(), AuditEntry.objects.count()) == before


def test_invalid_external_perform_leaves_nothing(staff_api):
    draw = make_draw(kind="external")
    WebhookEndpoint.objects.create(event=draw.event, url="http://127.0.0.1:9/hook")
    response = staff_api.post(f"/api/events/{draw.event_id}/draws/{draw.pk}/perform/",
                              {"winners": [{"prize_id": 999, "user_id": 1}]}, format="json")
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()
    assert not AuditEntry.objects.exclude(action="draw.created").exists()


def test_claim_queues_prize_claimed_and_audits_it(draw):
    draw_perform(draw=draw, actor=None, source="scheduler")
    winner = Winner.objects.select_related("user").first()
    response = client_for(winner.user).post(
        f"/api/events/{draw.event_id}/draws/{draw.pk}/claim/")
    assert response.status_code == 200
    claimed = WebhookDelivery.objects.get(kind="prize.claimed").payload["data"]
    assert claimed["winner_id"] == winner.pk and claimed["user_id"] == winner.user_id
    entry = AuditEntry.objects.get(action="prize.claimed")
    assert entry.actor_id == winner.user_id and entry.object_id == str(winner.pk)


def test_redraw_queues_winner_webhooks_and_audits_it(draw, staff):
    draw_perform(draw=draw, actor=None, source="scheduler")
    Winner.objects.update(claim_deadline=timezone.now())
    WebhookDelivery.objects.all().delete()
    replacements = draw_redraw(draw=draw, actor=staff, source="api")
    assert len(replacements) == 3
    assert kinds() == ["draw.winner", "draw.winner"]
    entry = AuditEntry.objects.get(action="draw.redrawn")
    assert entry.actor_id == staff.pk and len(entry.data["replacements"]) == 3


def test_events_without_endpoints_get_no_deliveries_but_still_audit(staff):
    draw = make_draw(prizes=PRIZES)
    make_entrants(draw, 2)
    draw_perform(draw=draw, actor=None, source="scheduler")
    assert not WebhookDelivery.objects.exists()
    assert AuditEntry.objects.filter(action="draw.performed").count() == 1
