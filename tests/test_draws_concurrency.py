"""Entering concurrently on PostgreSQL: the draw row lock keeps positions gapless."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from core.models import User
from live.errors import AlreadyEntered
from live.models import Draw, Entry
from live.services.draws import draw_enter
from tests.factories import make_draw

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def enter(draw_id, user_id):
    try:
        draw_enter(draw=Draw.objects.get(pk=draw_id), user=User.objects.get(pk=user_id))
        return "ok"
    except AlreadyEntered:
        return "dup"
    finally:
        connection.close()


def test_concurrent_entries_have_gapless_positions():
    draw = make_draw()
    users = User.objects.bulk_create([User(email=f"c{i}@example.com") for i in range(40)])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda u: enter(draw.pk, u.pk), users))
    assert results.count("ok") == 40
    positions = sorted(Entry.objects.filter(draw=draw).values_list("position", flat=True))
    assert positions == list(range(1, 41))
    assert Draw.objects.get(pk=draw.pk).entries_count == 40


def test_concurrent_duplicate_entries_make_one():
    draw = make_draw()
    user = User.objects.create(email="dup@example.com")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: enter(draw.pk, user.pk), range(12)))
    assert results.count("ok") == 1 and results.count("dup") == 11
    assert Entry.objects.filter(draw=draw).count() == 1
