"""Live admin: every model listed and searchable; each organiser action calls its service."""

from html.parser import HTMLParser

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from core.streams import history_since, last_seq
from live.models import CheckIn, Draw, Entry, ForwardingBatch, OperatorEndpoint, Winner
from live.services.performing import draw_perform
from tests.factories import make_draw, make_entrants, make_event

pytestmark = pytest.mark.django_db

MODELS = ["draw", "entry", "winner", "checkin", "screenkey", "winnernotification",
          "operatorendpoint", "forwardingbatch"]


@pytest.fixture
def browser(superuser_browser):
    return superuser_browser


@pytest.fixture
def performed():
    draw = make_draw(prizes=[{"name": "TV", "rank": 1}])
    make_entrants(draw, 3)
    draw_perform(draw=draw, actor=None, source="scheduler")
    return draw


def act(client, model, action, ids, *, follow=False):
    return client.post(f"/admin/{'core' if model == 'event' else 'live'}/{model}/",
                       {"action": action, "_selected_action": ids}, follow=follow)


@pytest.mark.parametrize("model", MODELS)
def test_every_live_model_has_a_searchable_changelist(browser, performed, model):
    response = browser.get(f"/admin/live/{model}/", {"q": "example"})
    assert response.status_code == 200


def test_redraw_action_replaces_expired_winners(browser, performed, staff):
    Winner.objects.update(claim_deadline=timezone.now())
    response = act(browser, "draw", "redraw_unclaimed", [performed.pk])
    assert response.status_code == 302
    assert Winner.objects.filter(draw=performed, round=1).count() == 1
    assert AuditEntry.objects.get(action="draw.redrawn").actor_id == staff.pk


def test_notify_action_sends_to_the_winners(browser, performed):
    response = act(browser, "draw", "notify_winners", [performed.pk], follow=True)
    assert "1 sent, 0 failed, 0 already notified" in response.content.decode()
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("action, kind", [("export_participants_csv", "text/csv"),
                                          ("export_participants_xlsx", "spreadsheetml")])
def test_export_participants_action_downloads_the_file(browser, performed, action, kind):
    response = act(browser, "draw", action, [performed.pk])
    assert response.status_code == 200 and kind in response["Content-Type"]
    body = b"".join(response.streaming_content)
    if kind == "text/csv":
        assert body.decode("utf-8-sig").count("\n") == 4  # header + 3 entries


def test_export_action_wants_exactly_one_draw(browser, performed):
    other = make_draw(performed.event, title="Other")
    response = act(browser, "draw", "export_participants_csv", [performed.pk, other.pk],
                   follow=True)
    assert "Select exactly one draw to export." in response.content.decode()


@pytest.mark.parametrize("action, kind", [("export_checkins_csv", "text/csv"),
                                          ("export_checkins_xlsx", "spreadsheetml")])
def test_export_checkins_action_downloads_the_file(browser, user, action, kind):
    event = make_event()
    CheckIn.objects.create(event=event, user=user)
    response = act(browser, "event", action, [event.pk])
    assert response.status_code == 200 and kind in response["Content-Type"]


def test_forward_action_queues_a_batch_per_event(browser, performed):
    OperatorEndpoint.objects.create(event=performed.event, url="http://127.0.0.1:9/op")
    ids = list(Entry.objects.values_list("id", flat=True))
    response = act(browser, "entry", "forward_to_operator", ids, follow=True)
    assert "3 participant(s) queued for the operator" in response.content.decode()
    assert ForwardingBatch.objects.get().entries.count() == 3


def test_forward_action_reports_a_missing_operator(browser, performed):
    ids = list(Entry.objects.values_list("id", flat=True))
    response = act(browser, "entry", "forward_to_operator", ids, follow=True)
    assert "no active operator endpoint" in response.content.decode()
    assert not ForwardingBatch.objects.exists()


def test_retry_batch_action_makes_a_failed_batch_due(browser, performed, staff):
    endpoint = OperatorEndpoint.objects.create(event=performed.event, url="http://127.0.0.1:9/")
    batch = ForwardingBatch.objects.create(endpoint=endpoint, status="failed", attempts=8)
    act(browser, "forwardingbatch", "retry_now", [batch.pk])
    batch.refresh_from_db()
    assert batch.status == "pending" and batch.next_attempt_at <= timezone.now()
    retried = AuditEntry.objects.get(action="participants.forwarding_retried")
    assert retried.actor_id == staff.pk and retried.object_id == str(batch.pk)


@pytest.mark.parametrize("model, action", [
    ("draw", "notify_winners"), ("draw", "redraw_unclaimed"),
    ("draw", "export_participants_csv"), ("entry", "forward_to_operator"),
    ("event", "export_checkins_csv"), ("event", "issue_screen_key"),
])
def test_non_staff_cannot_run_actions(user, performed, model, action):
    client = Client()
    client.force_login(user)
    response = act(client, model, action, [performed.pk])
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not mail.outbox and not ForwardingBatch.objects.exists()


def test_staff_without_permissions_cannot_run_actions(bare_staff, performed):
    client = Client()
    client.force_login(bare_staff)
    assert act(client, "draw", "notify_winners", [performed.pk]).status_code == 403
    assert not mail.outbox


# --- Editing a draw goes through draw_update ------------------------------------------


class _FormFields(HTMLParser):
    """The values a browser would submit from the admin's change form."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") != "checkbox" or "checked" in attrs:
                self.data[name] = attrs.get("value") or ("on" if attrs.get("type") == "checkbox"
                                                         else "")
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.strip()

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def change_form(client, draw) -> dict[str, str]:
    page = client.get(f"/admin/live/draw/{draw.pk}/change/")
    assert page.status_code == 200
    parser = _FormFields()
    parser.feed(page.content.decode())
    return {k: v for k, v in parser.data.items() if not k.startswith("_")}


def test_admin_cannot_change_the_kind_of_a_draw_with_entries(
        browser, django_capture_on_commit_callbacks):
    draw = make_draw()
    make_entrants(draw, 2)
    seq = last_seq(f"draw:{draw.pk}")
    form = {**change_form(browser, draw), "kind": "lottery", "numbers_count": "3",
            "numbers_max": "10"}
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/admin/live/draw/{draw.pk}/change/", form, follow=True)
    assert response.status_code == 200
    assert "cannot change once it has entries" in response.content.decode()
    assert Draw.objects.get(pk=draw.pk).kind == "raffle"
    assert history_since(f"draw:{draw.pk}", seq).messages == []
    assert not AuditEntry.objects.filter(action="draw.updated").exists()


def test_admin_edit_publishes_draw_updated_and_is_audited(browser, staff,
                                                        django_capture_on_commit_callbacks):
    draw = make_draw()
    make_entrants(draw, 2)
    seq = last_seq(f"draw:{draw.pk}")
    form = {**change_form(browser, draw), "title": "Renamed raffle",
            "prizes-0-name": "Tandem"}
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/admin/live/draw/{draw.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    published = history_since(f"draw:{draw.pk}", seq).messages
    assert [m["type"] for m in published] == ["draw.updated"]
    state = published[0]["data"]["draw"]
    assert state["title"] == "Renamed raffle" and state["entries_count"] == 2
    assert [p["name"] for p in state["prizes"]] == ["Tandem"]
    entry = AuditEntry.objects.get(action="draw.updated")
    assert entry.actor_id == staff.pk and entry.object_id == str(draw.pk)
    assert entry.data["actor"] == f"admin:{staff.pk}"
    assert entry.data["fields"] == {"title": "Renamed raffle"}
