import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from core import periodic
from core.streams import history_since
from live import checkin, scheduler
from live.models import Draw, Winner
from tests.factories import make_draw, make_entrants, make_event
from tests.servers import ROOT, migrate_sqlite, server_env


def soon(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def types(stream):
    return [m["type"] for m in history_since(stream, 0).messages]


@pytest.mark.django_db(transaction=True)
def test_once_performs_due_draws_only():
    due = make_draw(scheduled_at=soon(-1))
    make_entrants(due, 3)
    later = make_draw(scheduled_at=soon(3600))
    external = make_draw(kind="external", scheduled_at=soon(-1))
    call_command("run_scheduler", "--once")
    statuses = dict(Draw.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "performed", later.pk: "open", external.pk: "open"}
    assert Winner.objects.filter(draw=due).count() == 1
    assert Draw.objects.get(pk=due.pk).performed_by.startswith("scheduler:")


@pytest.mark.django_db(transaction=True)
def test_entries_close_at_their_time_before_the_draw():
    draw = make_draw(entries_close_at=soon(-1), scheduled_at=soon(600))
    scheduler.close_due_entries()
    draw.refresh_from_db()
    assert draw.status == "closed" and draw.entries_digest
    assert "draw.closing" in types(f"draw:{draw.pk}")


@pytest.mark.parametrize("seconds_left, due", [(1, True), (37, True), (60, True), (61, False),
                                               (70, True), (75, False), (600, True)])
def test_countdown_cadence(seconds_left, due):
    assert scheduler.tick_due(seconds_left) is due


@pytest.mark.django_db(transaction=True)
def test_countdown_tick_is_sent_once_per_second():
    draw = make_draw(scheduled_at=soon(30.5))
    now = timezone.now()
    assert scheduler.publish_countdowns(now) == 1
    assert scheduler.publish_countdowns(now) == 0  # another scheduler, same second
    message = history_since(f"draw:{draw.pk}", 0).messages[-1]
    assert message["type"] == "draw.countdown"
    assert message["data"]["seconds_left"] == 31 and message["data"]["scheduled_at"]


@pytest.mark.django_db(transaction=True)
def test_no_countdown_between_ten_second_marks_or_past_horizon():
    make_draw(scheduled_at=soon(74.5))
    with override_settings(SCHEDULER_COUNTDOWN_HORIZON_SECONDS=60):
        assert scheduler.publish_countdowns() == 0
    assert scheduler.publish_countdowns() == 0  # 75 s left: not a 10 s mark


@pytest.mark.django_db(transaction=True)
def test_checkin_code_published_once_per_window_to_screens():
    event = make_event(checkin_code_required=True)
    make_event(checkin_code_required=False)
    assert scheduler.publish_checkin_codes() == 1
    assert scheduler.publish_checkin_codes() == 0
    message = history_since(f"screen:{event.pk}", 0).messages[0]
    assert message["type"] == "checkin.code"
    assert message["data"]["code"] == checkin.current_code(event)["code"]
    assert types(f"event:{event.pk}") == []  # never on the public stream


@pytest.mark.django_db
def test_periodic_jobs_run_at_their_interval(monkeypatch):
    calls = []
    monkeypatch.setattr(periodic, "_jobs", {})
    periodic.register_periodic("test.job", lambda: calls.append(1), every_seconds=3600)
    periodic.register_periodic("test.broken", lambda: 1 / 0, every_seconds=0)
    loop = scheduler.Scheduler()
    loop.run_periodic()
    loop.run_periodic()
    assert calls == [1]


def test_jobs_due_more_often_than_the_tick_run_between_ticks(monkeypatch, db):
    """The waiting rooms' admission (WAITING_ROOM_ADMIT_SECONDS, 0.1 s) runs between the
    1-second ticks; the other jobs wait for the tick."""
    fast, slow = [], []
    monkeypatch.setattr(periodic, "_jobs", {})
    periodic.register_periodic("test.fast", lambda: fast.append(time.monotonic()),
                               every_seconds=0.1)
    periodic.register_periodic("test.slow", lambda: slow.append(1), every_seconds=1)
    loop = scheduler.Scheduler()
    started = time.monotonic()
    loop.wait_running_fast_jobs(started + 0.65, interval=1.0)
    assert time.monotonic() - started >= 0.6  # it waited for the tick
    assert len(fast) >= 2  # about six on an idle machine; never the tick's job
    assert slow == []
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(fast))  # wait()'s jitter
    # Asked to stop, it returns at once.
    loop.stop()
    started = time.monotonic()
    loop.wait_running_fast_jobs(started + 30, interval=1.0)
    assert time.monotonic() - started < 1


def test_a_job_failing_ten_times_a_second_logs_one_traceback(monkeypatch, caplog):
    monkeypatch.setattr(periodic, "_jobs", {})
    periodic.register_periodic("test.down", lambda: 1 / 0, every_seconds=0)
    loop = scheduler.Scheduler()
    with caplog.at_level("DEBUG", logger="live.scheduler"):
        for _ in range(10):
            loop.run_periodic()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info
    assert sum(r.levelname == "DEBUG" and "failed again" in r.getMessage()
               for r in caplog.records) == 9


def test_the_waiting_rooms_admit_between_ticks():
    from django.conf import settings

    jobs = {job.name: job.every_seconds for job in periodic.periodic_jobs()}
    assert jobs["ticketing.waiting_rooms_admit"] == settings.WAITING_ROOM_ADMIT_SECONDS < 1


@pytest.mark.parametrize(("value", "accepted"), [("0.001", False), ("0.2", True), ("600", False)])
def test_the_admission_interval_is_checked_at_start(value, accepted):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings",
           "WAITING_ROOM_ADMIT_SECONDS": value}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (done.returncode == 0) is accepted, done.stderr
    if not accepted:
        assert "WAITING_ROOM_ADMIT_SECONDS must be between 0.05 and 60" in done.stderr


def test_loop_stops_when_asked(db):
    loop = scheduler.Scheduler()
    loop.stop()
    started = time.monotonic()
    loop.run()
    assert time.monotonic() - started < 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_scheduler_stops_cleanly_on_sigterm(tmp_path):
    env = server_env(tmp_path)
    migrate_sqlite(env)
    process = subprocess.Popen([sys.executable, "manage.py", "run_scheduler"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert "Scheduler running" in process.stdout.readline()  # signal handlers are in place
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_perform_each_due_draw_once(tmp_path):
    event = make_event()
    draws = [make_draw(event, scheduled_at=soon(-1), title=f"D{i}") for i in range(12)]
    for draw in draws:
        make_entrants(draw, 5)
    env = server_env(tmp_path, LOG_LEVEL="WARNING")
    processes = [
        subprocess.Popen([sys.executable, "manage.py", "run_scheduler"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not Draw.objects.exclude(status="performed").exists():
                break
            time.sleep(0.2)
        time.sleep(1.5)  # let both loops take another turn at the (now empty) queue
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=20)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    for draw in draws:
        assert Winner.objects.filter(draw=draw).count() == 1
        assert types(f"draw:{draw.pk}").count("draw.finished") == 1
        assert types(f"draw:{draw.pk}").count("draw.started") == 1
    performers = set(Draw.objects.values_list("performed_by", flat=True))
    assert all(p.startswith("scheduler:") for p in performers)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_serve_runs_the_scheduler_in_process_only_without_redis(tmp_path):
    from django.conf import settings

    from tests.servers import running_server

    with running_server(tmp_path, PYTHONUNBUFFERED="1") as server:
        log = server.log()
    assert ("Scheduler running inside this process" in log) == (not settings.REDIS_URL), log


SEED_DUE_DRAW = """
from datetime import timedelta
from django.utils import timezone
from tests.factories import make_draw, make_entrants
draw = make_draw(title="In-process", scheduled_at=timezone.now() - timedelta(seconds=1))
make_entrants(draw, 3, prefix="inproc")
print(draw.event_id, draw.pk)
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_in_process_scheduler_performs_a_due_draw(tmp_path):
    import httpx

    from tests.servers import running_server

    env = server_env(tmp_path, RUN_SCHEDULER_IN_PROCESS="1")
    migrate_sqlite(env)
    seeded = subprocess.run([sys.executable, "manage.py", "shell", "-c", SEED_DUE_DRAW],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    event_id, draw_id = seeded.stdout.split()[-2:]
    with running_server(tmp_path, RUN_SCHEDULER_IN_PROCESS="1") as server:
        url = server.url(f"/api/events/{event_id}/draws/{draw_id}/")
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status != "performed":
            status = httpx.get(url, timeout=5).json()["status"]
            time.sleep(0.2)
    assert status == "performed"
