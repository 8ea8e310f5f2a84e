"""core/failpoints.py: off unless named, strict about names, and placed inside the
draw transaction (tests/test_stack.py kills a scheduler stalled there)."""

import pytest

from core import failpoints
from core.models import AuditEntry
from live.models import Draw, Winner
from live.services.performing import draw_perform
from tests.factories import make_draw, make_entrants


def test_parse_accepts_sleep_and_raise_and_rejects_anything_else():
    assert failpoints.parse("") == {}
    assert failpoints.parse("draw.perform.before_commit=sleep(2.5)") == {
        "draw.perform.before_commit": ("sleep", 2.5)}
    assert failpoints.parse(" draw.perform.before_commit = raise ;") == {
        "draw.perform.before_commit": ("raise", 0.0)}
    with pytest.raises(ValueError, match="unknown failpoint"):
        failpoints.parse("draw.perfrom.before_commit=raise")
    with pytest.raises(ValueError, match="sleep"):
        failpoints.parse("draw.perform.before_commit=sleep")


def test_an_unset_failpoint_does_nothing():
    assert failpoints._POINTS == {}  # this run sets no TOMBOLA_FAILPOINTS
    failpoints.failpoint("draw.perform.before_commit")


@pytest.mark.django_db(transaction=True)
def test_the_draw_failpoint_is_inside_the_transaction(monkeypatch, tmp_path):
    draw = make_draw()
    make_entrants(draw, 3)
    marker = tmp_path / "hit.log"
    monkeypatch.setattr(failpoints, "_POINTS",
                        failpoints.parse("draw.perform.before_commit=raise"))
    monkeypatch.setattr(failpoints, "_MARKER", str(marker))
    with pytest.raises(failpoints.FailpointError):
        draw_perform(draw=draw, actor=None, source="staff")
    assert marker.read_text().startswith("draw.perform.before_commit ")
    # Winners, status and audit entry had been written when it fired: all rolled back.
    assert Draw.objects.get(pk=draw.pk).status == Draw.Status.OPEN
    assert not Winner.objects.filter(draw=draw).exists()
    assert not AuditEntry.objects.filter(action="draw.performed").exists()

    monkeypatch.setattr(failpoints, "_POINTS", {})
    draw_perform(draw=draw, actor=None, source="staff")
    assert Winner.objects.filter(draw=draw).count() == 1
