"""The stream outbox: on embedded defaults (no Redis) a process that is not the server
(a management command) hands its stream messages to the server through the database,
and the server's scheduler publishes them (core/streams.py,
docs/decisions/2026-11-30-stream-outbox-embedded.md)."""

import json
import logging
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core import streams
from core.models import StreamOutboxMessage
from live.scheduler import Scheduler


@pytest.fixture
def embedded(settings):
    """No Redis, whatever the run's configuration (the memory backend is reset per test)."""
    settings.REDIS_URL = ""


@pytest.fixture
def command_process(embedded, monkeypatch):
    """This process is a management command, not the server."""
    monkeypatch.setattr(streams, "_serves_streams", False)


@pytest.fixture
def fanout(monkeypatch, settings):
    """What the server's relay receives (STREAM_FANOUT=relay without Redis)."""
    settings.STREAM_FANOUT = "relay"
    sent = []
    monkeypatch.setattr(streams, "_local_fanout", sent.append)
    return sent


def become_server(monkeypatch):
    monkeypatch.setattr(streams, "_serves_streams", True)


def outbox() -> list[tuple[str, str, dict]]:
    return list(StreamOutboxMessage.objects.order_by("id").values_list("stream", "type", "data"))


@pytest.mark.django_db(transaction=True)
def test_a_command_writes_its_messages_to_the_outbox_in_its_transaction(command_process,
                                                                         fanout):
    with transaction.atomic():
        streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
        # Written now, inside the caller's transaction (not after the commit).
        assert outbox() == [("draw:1", "draw.winner", {"n": 1})]
    assert outbox() == [("draw:1", "draw.winner", {"n": 1})]
    assert streams.last_seq("draw:1") == 0 and fanout == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_nothing_in_the_outbox(command_process):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
        raise Boom
    assert outbox() == []


@pytest.mark.django_db
def test_the_server_publishes_in_process_and_writes_no_outbox(embedded, fanout,
                                                              django_capture_on_commit_callbacks):
    assert streams.reaches_subscribers()  # the test process is the server (conftest)
    with django_capture_on_commit_callbacks(execute=True):
        streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
    assert outbox() == [] and [m["seq"] for m in fanout] == [1]


@pytest.mark.django_db
def test_the_server_drains_in_order_with_increasing_seqs_and_deletes(command_process, fanout,
                                                                     monkeypatch):
    streams.publish("draw:1", "draw.created", {"n": 0})  # the server had published before
    fanout.clear()
    for n in range(1, 4):
        streams.publish_on_commit("draw:1", "draw.winner", {"n": n})
        streams.publish_on_commit("event:9", "draw.winner", {"n": n})
    assert streams.outbox_drain() == 0 and len(outbox()) == 6  # not the server: left alone

    become_server(monkeypatch)
    assert streams.outbox_drain() == 6
    assert outbox() == []
    assert [(m["stream"], m["seq"], m["data"]["n"]) for m in fanout] == [
        ("draw:1", 2, 1), ("event:9", 1, 1), ("draw:1", 3, 2), ("event:9", 2, 2),
        ("draw:1", 4, 3), ("event:9", 3, 3)]
    history = streams.history_since("draw:1", 1)
    assert not history.reset and [m["data"]["n"] for m in history.messages] == [1, 2, 3]
    assert streams.outbox_drain() == 0 and len(fanout) == 6  # nothing twice


@pytest.mark.django_db
def test_the_drain_runs_as_a_periodic_job_of_the_scheduler(command_process, fanout,
                                                           monkeypatch):
    streams.publish_on_commit("draw:1", "draw.finished", {"n": 1})
    become_server(monkeypatch)
    Scheduler().run_periodic()
    assert outbox() == [] and [m["type"] for m in fanout] == ["draw.finished"]


@pytest.mark.django_db
def test_a_message_that_fails_to_publish_does_not_hold_back_the_rest(command_process, fanout,
                                                                     monkeypatch):
    for n in range(3):
        streams.publish_on_commit("draw:1", "draw.winner", {"n": n})
    become_server(monkeypatch)
    publish = streams.publish

    def flaky(stream, type_, data):
        if data["n"] == 1:
            raise RuntimeError("boom")
        return publish(stream, type_, data)

    monkeypatch.setattr(streams, "publish", flaky)
    assert streams.outbox_drain() == 3
    assert [m["data"]["n"] for m in fanout] == [0, 2] and outbox() == []


def written_ago(seconds: float) -> None:
    """Backdate the outbox's rows: written `seconds` ago."""
    StreamOutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db
def test_the_drain_skips_messages_older_than_the_history_window(command_process, fanout,
                                                                monkeypatch, settings, caplog):
    """Nobody drained for longer than a client can resume (the scheduler stuck, the
    database down): newer messages may have gone out on the stream since, and a client
    that missed that much resyncs from a snapshot; publishing the old message now, with
    a fresh seq, would put its old values on top of newer state."""
    settings.STREAM_HISTORY_SECONDS = 600
    streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
    streams.publish_on_commit("event:9", "draw.winner", {"n": 2})
    written_ago(601)
    streams.publish_on_commit("draw:1", "draw.finished", {"n": 3})  # recent
    become_server(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="core.streams"):
        assert streams.outbox_drain() == 3
    assert [(m["stream"], m["seq"], m["data"]["n"]) for m in fanout] == [("draw:1", 1, 3)]
    assert outbox() == []
    [warning] = [r for r in caplog.records if "older than STREAM_HISTORY_SECONDS" in r.message]
    assert warning.levelno == logging.WARNING and "2 message(s)" in warning.message
    assert "draw:1, event:9" in warning.message


@pytest.mark.django_db
def test_a_message_just_inside_the_history_window_is_published(command_process, fanout,
                                                               monkeypatch, settings):
    settings.STREAM_HISTORY_SECONDS = 600
    streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
    written_ago(590)
    become_server(monkeypatch)
    assert streams.outbox_drain() == 1 and [m["data"]["n"] for m in fanout] == [1]


@pytest.mark.django_db
def test_at_start_the_server_discards_what_was_written_before_it(command_process, fanout,
                                                                 monkeypatch):
    """The snapshots a new server builds already show those changes (and its streams
    start from seq 0): they are not news, whatever their age."""
    streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
    written_ago(5)
    started = timezone.now()
    streams.publish_on_commit("draw:1", "draw.finished", {"n": 2})  # after the start
    assert streams.outbox_discard_before(started) == 1
    assert outbox() == [("draw:1", "draw.finished", {"n": 2})]
    become_server(monkeypatch)
    assert streams.outbox_drain() == 1 and [m["data"]["n"] for m in fanout] == [2]


@pytest.mark.redis
@pytest.mark.django_db
def test_with_redis_the_outbox_is_never_used(monkeypatch, django_assert_num_queries,
                                             django_capture_on_commit_callbacks):
    monkeypatch.setattr(streams, "_serves_streams", False)  # a command: Redis reaches the server
    with django_capture_on_commit_callbacks(execute=True):
        streams.publish_on_commit("draw:1", "draw.winner", {"n": 1})
    assert outbox() == [] and streams.last_seq("draw:1") == 1
    StreamOutboxMessage.objects.create(stream="draw:1", type="draw.winner", data={})
    for serving in (False, True):
        monkeypatch.setattr(streams, "_serves_streams", serving)
        with django_assert_num_queries(0):
            assert streams.outbox_drain() == 0
            assert streams.outbox_discard_before(timezone.now()) == 0
    assert streams.last_seq("draw:1") == 1


# --- Two drains at once, in real processes --------------------------------------------

FILL = """
from django.db import transaction
from core import streams
with transaction.atomic():
    for n in range({count}):
        streams.publish_on_commit("draw:{stream}", "draw.winner", {{"n": n}})
"""

# A drain in a process of its own, posing as the server; it prints the n of every
# message it published, in order. The first drain, once inside its transaction (at its
# first message), lets the second one start and waits a little, so that the second
# drains while the first holds its rows: on PostgreSQL it skips them (skip_locked), on
# SQLite it waits for the write lock.
DRAIN = """
import json, pathlib, sys, time
from core import streams
from core.models import StreamOutboxMessage
streams.serve_streams_here()
gate, first = sys.argv[-1], sys.argv[-2] == "first"
published = []
publish = streams.publish
def slow(stream, type_, data):
    if first and not published:
        pathlib.Path(gate + ".inside").touch()
        time.sleep(0.5)
    time.sleep(0.01)
    published.append(data["n"])
    return publish(stream, type_, data)
streams.publish = slow
if not first:
    while not pathlib.Path(gate + ".inside").exists():
        time.sleep(0.01)
while StreamOutboxMessage.objects.exists():
    streams.outbox_drain(limit=5)
    time.sleep(0.1)  # a scheduler would wait for its next tick
print(json.dumps(published))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_publish_each_message_once(tmp_path):
    from tests.servers import ROOT, manage, migrate_sqlite, server_env

    env = server_env(tmp_path, REDIS_URL="")  # the outbox exists only without Redis
    migrate_sqlite(env)
    manage(env, "shell", "-c", FILL.format(count=60, stream=1))
    gate = str(tmp_path / "gate")
    drains = [subprocess.Popen(
        [sys.executable, "-c", "import django, os; "
         "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'core.settings'); django.setup(); "
         f"exec({DRAIN!r})", role, gate],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for role in ("first", "second")]
    try:
        results = [d.communicate(timeout=90) for d in drains]
    finally:
        for drain in drains:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
    assert all(d.returncode == 0 for d in drains), [err for _, err in results]
    first, second = (json.loads(out.strip().splitlines()[-1]) for out, _ in results)
    assert sorted(first + second) == list(range(60))  # each message exactly once
    assert first == sorted(first) and second == sorted(second)  # each drain in id order
    # The second started while the first held rows 0-4, and got a share.
    assert first[:5] == [0, 1, 2, 3, 4] and second


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_manage_serve_discards_at_start_what_was_written_while_no_server_ran(tmp_path):
    """`serve --no-scheduler` (nothing drains): the message written while no server ran is
    gone once the server is up; one written after it started stays for the drain."""
    from tests.servers import manage, migrate_sqlite, running_server, server_env

    def left() -> str:  # the outbox's types (shell first says what it imported)
        return manage(env, "shell", "-c", "from core.models import StreamOutboxMessage as M; "
                      "print(sorted(M.objects.values_list('type', flat=True)))"
                      ).stdout.strip().splitlines()[-1]

    fill = ("from django.db import transaction; from core import streams\n"
            "with transaction.atomic(): streams.publish_on_commit('draw:1', {!r}, {{}})")
    env = server_env(tmp_path, REDIS_URL="")  # the outbox exists only without Redis
    migrate_sqlite(env)
    manage(env, "shell", "-c", fill.format("draw.winner"))
    assert left() == "['draw.winner']"
    with running_server(tmp_path, args=("--no-scheduler",), REDIS_URL="") as server:
        manage(env, "shell", "-c", fill.format("draw.finished"))
        assert left() == "['draw.finished']", server.log()
        assert "1 message(s) written before this server started" in server.log()
