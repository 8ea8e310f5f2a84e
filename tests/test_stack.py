"""The production topology under faults: several daphne workers and schedulers, real
processes (deploy/stack.py, the code behind scripts/stack), PostgreSQL and Redis.

- scripts/stack starts the topology, reports it and stops it on SIGINT;
- a client on worker A sees a draw performed through worker B, and a seat stream on B
  sees holds and purchases made through A;
- a worker is SIGKILLed while clients watch a draw: they resume with `since` on the
  other worker (or on the restarted one) and get every message they missed, in order;
- a scheduler is SIGKILLed in the middle of performing a draw (failpoint
  draw.perform.before_commit): the other scheduler performs it exactly once.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets.sync.client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from core import audit, streams
from core.models import AuditEntry, Venue
from deploy.stack import free_port
from live.models import Draw, Winner
from live.verify import verify_proof
from tests.factories import draw_url, make_draw, make_entrants
from tests.servers import ROOT, server_env
from tests.stack import access_token, running_stack
from tests.ticketing_helpers import LAYOUT, fund, seats
from tests.ticketing_helpers import make_event as make_sale_event
from ticketing.services import layout

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

DEADLINE = 60  # seconds; generous on purpose (a loaded 2-core machine)
TWO_PRIZES = [{"name": "Bicycle", "quantity": 1, "rank": 1},
              {"name": "Kite", "quantity": 2, "rank": 2}]


def wait_for(condition, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def connect(worker, path: str, *, token: str | None = None):
    protocols = ["tombola.v1"] + ([f"jwt.{token}"] if token else [])
    return websockets.sync.client.connect(
        worker.ws_url(path), subprotocols=protocols, origin="http://127.0.0.1", open_timeout=20)


def recv(ws, timeout: float = 20) -> dict:
    """The next stream frame (control frames such as heartbeats skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if "stream" in frame:
            return frame


def recv_until(ws, message_type: str, timeout: float = DEADLINE) -> list[dict]:
    frames = [recv(ws, timeout)]
    while frames[-1]["type"] != message_type:
        frames.append(recv(ws, timeout))
    return frames


def assert_silent(ws, seconds: float = 1.0) -> None:
    with pytest.raises(TimeoutError):
        recv(ws, timeout=seconds)


def history(stream: str, since: int = 0) -> list[dict]:
    found = streams.history_since(stream, since)
    assert not found.reset
    return found.messages


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sale_event(db):
    venue = Venue.objects.create(name="Arena", address="1 Court Street")
    layout.venue_layout_set(venue=venue, sections=LAYOUT)
    return make_sale_event(venue)


# --- scripts/stack --------------------------------------------------------------------


def two_free_ports() -> int:
    """A port p with p + 1 free too (scripts/stack numbers workers from --port)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two consecutive free ports")


def test_scripts_stack_starts_the_topology_and_stops_it_on_sigint(tmp_path):
    env = server_env(tmp_path)  # the test database, which the script migrates (a no-op)
    port = two_free_ports()
    front = free_port()
    script = subprocess.Popen(
        [sys.executable, "scripts/stack", "--workers", "2", "--schedulers", "2",
         "--port", str(port), "--log-dir", str(tmp_path / "logs"),
         "--balancer-port", str(front)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in script.stdout],
                              daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 2 * DEADLINE
        while not output or "Ctrl+C" not in output[-1]:
            assert script.poll() is None or not lines.empty(), "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            with contextlib.suppress(queue.Empty):
                output.append(lines.get(timeout=1))
        rows = {line.split()[0]: line.split() for line in output if line.startswith("  ")}
        assert sorted(rows) == ["scheduler1", "scheduler2", "web1", "web2"], output
        pids = {name: int(row[row.index("pid") + 1]) for name, row in rows.items()}
        for name, url in (("web1", f"http://127.0.0.1:{port}/"),
                          ("web2", f"http://127.0.0.1:{port + 1}/")):
            assert rows[name][1] == url
            ready = httpx.get(url + "readyz", timeout=10).json()
            assert ready["checks"] == {"database": "ok", "redis": "ok"}
        # The front door (nginx with deploy/nginx.conf where installed, else the TCP
        # balancer) reaches both workers.
        assert any(f"http://127.0.0.1:{front}/" in line for line in output), output
        ready = httpx.get(f"http://127.0.0.1:{front}/readyz", timeout=10).json()
        assert ready["checks"] == {"database": "ok", "redis": "ok"}
        for name, pid in pids.items():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            expected = b"run_scheduler" if name.startswith("scheduler") else b"serve"
            assert expected in cmdline, (name, cmdline)
    finally:
        script.send_signal(signal.SIGINT)
        script.wait(timeout=DEADLINE)
    reader.join(timeout=DEADLINE)  # the pipe is at its end: the script has exited
    while not lines.empty():
        output.append(lines.get())
    assert script.returncode == 0, "".join(output)
    assert "Stopped." in output[-1]
    for pid in pids.values():  # every child was stopped and reaped
        assert not Path(f"/proc/{pid}").exists(), pid


# --- cross-worker ---------------------------------------------------------------------


def test_a_client_on_one_worker_sees_what_happens_through_the_other(
        tmp_path, make_user, sale_event):
    staff = make_user(is_staff=True, is_superuser=True)  # holds every model permission
    buyer = make_user(first_name="Bea")
    fund(buyer)
    draw = make_draw(sale_event, title="Cross-worker raffle")
    make_entrants(draw, 4)
    chosen = seats(sale_event, "A", "1", 1, 2)

    with running_stack(tmp_path, workers=2, schedulers=0) as stack:
        web_a, web_b = stack.workers
        buyer_token, staff_token = access_token(stack, buyer), access_token(stack, staff)
        with connect(web_a, f"/ws/events/{sale_event.pk}/", token=buyer_token) as watcher, \
                connect(web_b, f"/ws/events/{sale_event.pk}/seats/") as seat_map:
            watched = recv(watcher)
            seat_snapshot = recv(seat_map)
            assert (watched["type"], seat_snapshot["type"]) == ("snapshot", "snapshot")

            # Seats change through A; the seat stream on B sees each change, in order.
            held = httpx.post(web_a.url(f"/api/events/{sale_event.pk}/holds/"),
                              json={"seat_ids": chosen}, headers=auth(buyer_token), timeout=30)
            assert held.status_code == 201, held.text
            message = recv(seat_map)
            assert (message["type"], sorted(message["data"]["seats"]), message["seq"]) == (
                "seat.held", chosen, seat_snapshot["seq"] + 1)
            bought = httpx.post(web_a.url(f"/api/holds/{held.json()['token']}/purchase/"),
                                headers=auth(buyer_token), timeout=30)
            assert bought.status_code == 201, bought.text
            message = recv(seat_map)
            assert (message["type"], sorted(message["data"]["seats"]), message["seq"]) == (
                "seat.sold", chosen, seat_snapshot["seq"] + 2)

            # Staff perform the draw through B; the watcher on A gets the winner.
            performed = httpx.post(web_b.url(draw_url(draw, "perform")), json={},
                                   headers=auth(staff_token), timeout=30)
            assert performed.status_code == 200, performed.text
            frames = recv_until(watcher, "draw.finished")

    assert [f["seq"] for f in frames] == list(range(watched["seq"] + 1, watched["seq"] + 1
                                                    + len(frames)))
    announced = [w["id"] for f in frames if f["type"] == "draw.winner"
                 for w in f["data"]["winners"]]
    assert announced == list(Winner.objects.filter(draw=draw).values_list("id", flat=True))
    assert len(announced) == 1


# --- a worker killed ------------------------------------------------------------------


def test_clients_of_a_killed_worker_resume_elsewhere_and_miss_nothing(
        tmp_path, make_user, sale_event):
    staff = make_user(is_staff=True, is_superuser=True)  # holds every model permission
    with running_stack(tmp_path, workers=2, schedulers=1) as stack:
        web_a, web_b = stack.workers
        # Due in a minute: the scheduler sends a countdown tick every second meanwhile.
        draw = make_draw(sale_event, prizes=TWO_PRIZES,
                         scheduled_at=timezone.now() + timedelta(seconds=60))
        make_entrants(draw, 6)
        stream = f"draw:{draw.pk}"
        watching = contextlib.ExitStack()
        clients = [watching.enter_context(connect(web_a, f"/ws/draws/{draw.pk}/"))
                   for _ in range(3)]
        first = [recv(ws)["seq"] for ws in clients]  # snapshots
        seen: list[list[dict]] = [[] for _ in clients]
        for ws, frames in zip(clients, seen, strict=True):
            while len(frames) < 2:  # at least two ticks relayed by A
                frames.append(recv(ws))
                assert frames[-1]["type"] == "draw.countdown", frames

        stack.kill(web_a)
        for ws, frames in zip(clients, seen, strict=True):
            with pytest.raises(ConnectionClosed):  # after whatever A had sent already
                while True:
                    frames.append(recv(ws))
        watching.close()
        last = [frames[-1]["seq"] for frames in seen]

        # While they are away: more ticks (scheduler), then the draw, through B.
        wait_for(lambda: len(history(stream, max(last))) >= 2, "ticks during the outage")
        performed = httpx.post(web_b.url(draw_url(draw, "perform")), json={},
                               headers=auth(access_token(stack, staff)), timeout=30)
        assert performed.status_code == 200, performed.text
        stack.restart(web_a)

        # Two resume on B, one on the restarted A.
        for i, (worker, frames) in enumerate(zip((web_b, web_b, web_a), seen, strict=True)):
            with connect(worker, f"/ws/draws/{draw.pk}/?since={last[i]}") as ws:
                frames.extend(recv_until(ws, "draw.finished"))

    published = history(stream)
    finished = next(m["seq"] for m in published if m["type"] == "draw.finished")
    missed = [m for m in published if max(last) < m["seq"] <= finished]
    assert [m["type"] for m in missed].count("draw.winner") == 2
    for first_seq, frames in zip(first, seen, strict=True):
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(first_seq + 1, finished + 1)), seqs  # no gap, no duplicate
        assert frames == [m for m in published if first_seq < m["seq"] <= finished]


# --- a scheduler killed while performing ----------------------------------------------


def test_a_scheduler_killed_while_performing_is_replaced_and_the_draw_performed_once(
        tmp_path, sale_event):
    draw = make_draw(sale_event, prizes=TWO_PRIZES,
                     scheduled_at=timezone.now() - timedelta(seconds=1))
    make_entrants(draw, 8)
    marker = tmp_path / "failpoints.log"
    # Scheduler 1 stalls inside draw_perform (the worker gets the failpoint too, but no
    # draw is performed through it); nothing is published before the commit.
    with running_stack(tmp_path, workers=1, schedulers=1, TOMBOLA_FAILPOINTS_MARKER=str(marker),
                       TOMBOLA_FAILPOINTS="draw.perform.before_commit=sleep(600)") as stack:
        (web,), (stalled,) = stack.workers, stack.schedulers
        with connect(web, f"/ws/draws/{draw.pk}/") as ws:
            snapshot = recv(ws)
            assert snapshot["data"]["draw"]["status"] == "open"
            wait_for(lambda: marker.exists() and f"draw.perform.before_commit {stalled.pid}"
                     in marker.read_text(), "scheduler 1 to stall inside draw_perform")
            # Winners, status and audit entry are written but not committed.
            assert not Winner.objects.filter(draw=draw).exists()
            assert Draw.objects.get(pk=draw.pk).status != "performed"

            # A second scheduler runs meanwhile: it skips the locked draw, then takes it
            # once the first one is killed and PostgreSQL has rolled its transaction back.
            survivor = stack.start_process(stack.add_scheduler(TOMBOLA_FAILPOINTS=""))
            stack.kill(stalled)
            wait_for(lambda: Draw.objects.get(pk=draw.pk).status == "performed",
                     "scheduler 2 to perform the draw")
            frames = recv_until(ws, "draw.finished")
            assert_silent(ws)
        proof = httpx.get(web.url(draw_url(draw, "proof")), timeout=30)

    draw.refresh_from_db()
    assert draw.performed_by == f"scheduler:{socket.gethostname()}:{survivor.pid}"
    winners = list(Winner.objects.filter(draw=draw).order_by("id"))
    assert len(winners) == 3 and len({w.entry_id for w in winners}) == 3

    # The announcement went out once, complete and in order.
    assert [f["seq"] for f in frames] == list(range(snapshot["seq"] + 1,
                                                    snapshot["seq"] + 1 + len(frames)))
    types = [f["type"] for f in frames]
    assert types.count("draw.started") == 1 and types.count("draw.finished") == 1
    announced = [w["id"] for f in frames if f["type"] == "draw.winner"
                 for w in f["data"]["winners"]]
    assert types.count("draw.winner") == 2 and announced == [w.pk for w in winners]
    assert [m["type"] for m in history(f"draw:{draw.pk}", snapshot["seq"])] == types

    # One audit entry, an intact chain, and a proof that recomputes these winners.
    assert AuditEntry.objects.filter(action="draw.performed", object_id=str(draw.pk)).count() == 1
    audit.seal()
    assert audit.verify().ok
    assert proof.status_code == 200, proof.text
    verify_proof(proof.json())  # raises ProofMismatch if the winners do not follow
    assert sorted(w["entry_id"] for w in proof.json()["winners"]) == sorted(
        w.entry_id for w in winners)

