"""Importing an external draw's winners: all rows or none, idempotent, one service for the
command and the admin upload, published like an API perform."""

import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from core.streams import history_since, last_seq
from live.errors import InvalidWinnersFile
from live.imports import read_winners_csv, winners_import
from live.models import Draw, Winner
from tests.factories import make_draw

pytestmark = pytest.mark.django_db


@pytest.fixture
def draw():
    return make_draw(kind="external", prizes=[{"name": "Car", "rank": 1},
                                              {"name": "Mug", "rank": 2, "quantity": 2}])


@pytest.fixture
def people(make_user):
    return {
        "ann": make_user(first_name="Ann", phone="+79161230001", phone_verified_at=timezone.now()),
        "ben": make_user(first_name="Ben"),
        "cat": make_user(first_name="Cat"),
    }


def good_csv(draw, people) -> str:
    mug = draw.prizes.get(name="Mug")
    return ("participant,prize\n"
            "8 (916) 123-00-01,Car\n"  # a phone written the national way
            f"{people['ben'].pk},{mug.pk}\n"
            f"{people['cat'].pk},Mug\n")


def run_import(draw, text, actor=None):
    return winners_import(draw=draw, rows=read_winners_csv(text), actor=actor)


def won(draw) -> set[tuple[str, str]]:
    return {(w.user.first_name, w.prize.name)
            for w in Winner.objects.filter(draw=draw).select_related("user", "prize")}


@pytest.fixture(autouse=True)
def russian_numbers(settings):
    settings.PHONE_DEFAULT_REGION = "RU"


def test_good_file_imports_and_publishes_the_winners(draw, people, staff,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = run_import(draw, good_csv(draw, people), actor=staff)
    assert result.imported and result.winners == 3
    assert won(draw) == {("Ann", "Car"), ("Ben", "Mug"), ("Cat", "Mug")}
    draw.refresh_from_db()
    assert draw.status == Draw.Status.PERFORMED and draw.performed_by == f"user:{staff.pk}"
    published = [m["type"] for m in history_since(f"draw:{draw.pk}", 0).messages]
    assert published.count("draw.winner") == 2 and published[-1] == "draw.finished"
    entry = AuditEntry.objects.get(action="winners.imported")
    assert entry.actor_id == staff.pk and entry.data == {"winners": 3, "rows": 3}


@pytest.mark.parametrize("line, column, message", [
    ("{ann},", "prize", "required"),
    (",Car", "participant", "required"),
    ("{ann},Sofa", "prize", "no such prize in this draw"),
    ("{ann},999999", "prize", "no such prize in this draw"),
    ("999999,Car", "participant", "no such user"),
    ("+79169999999,Car", "participant", "no such user"),
    ("not-a-phone,Car", "participant", "neither a user id nor a valid phone number"),
])
def test_each_kind_of_bad_row_is_reported_and_nothing_is_imported(draw, people, line, column,
                                                                   message):
    text = f"participant,prize\n{people['ben'].pk},Mug\n{line.format(ann=people['ann'].pk)}\n"
    with pytest.raises(InvalidWinnersFile) as caught:
        run_import(draw, text)
    assert caught.value.extra["errors"] == [{"row": 3, "column": column, "message": message}]
    assert not Winner.objects.exists()
    assert Draw.objects.get(pk=draw.pk).status == Draw.Status.OPEN


def test_more_winners_than_units_is_a_row_error(draw, people):
    text = "participant,prize\n" + "".join(f"{u.pk},Mug\n" for u in people.values())
    with pytest.raises(InvalidWinnersFile) as caught:
        run_import(draw, text)
    assert caught.value.extra["errors"] == [
        {"row": 4, "column": "prize", "message": "more winners than the prize's 2 units"}]


def test_the_same_winner_twice_for_a_prize_is_a_row_error(draw, people):
    text = f"participant,prize\n{people['ben'].pk},Mug\n{people['ben'].pk},Mug\n"
    with pytest.raises(InvalidWinnersFile) as caught:
        run_import(draw, text)
    assert caught.value.extra["errors"][0]["row"] == 3


def test_a_missing_column_is_reported_for_the_header(draw):
    with pytest.raises(InvalidWinnersFile) as caught:
        run_import(draw, "user,prize\n1,Car\n")
    assert caught.value.extra["errors"] == [
        {"row": 1, "column": "participant", "message": "missing column"}]


def test_an_ambiguous_prize_name_asks_for_the_id(people):
    draw = make_draw(kind="external", prizes=[{"name": "Mug", "rank": 1},
                                              {"name": "Mug", "rank": 2}])
    with pytest.raises(InvalidWinnersFile) as caught:
        run_import(draw, f"participant,prize\n{people['ben'].pk},Mug\n")
    assert "use its id" in caught.value.extra["errors"][0]["message"]


def test_importing_the_same_file_again_changes_nothing(draw, people,
                                                      django_capture_on_commit_callbacks):
    text = good_csv(draw, people)
    run_import(draw, text)
    before = (Winner.objects.count(), len(history_since(f"draw:{draw.pk}", 0).messages),
              AuditEntry.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        again = run_import(draw, text)
    assert not again.imported and again.winners == 3
    assert (Winner.objects.count(), len(history_since(f"draw:{draw.pk}", 0).messages),
            AuditEntry.objects.count()) == before


def test_a_different_file_after_an_import_is_409(draw, people):
    run_import(draw, good_csv(draw, people))
    with pytest.raises(Exception) as caught:
        run_import(draw, f"participant,prize\n{people['ann'].pk},Mug\n")
    assert caught.value.code == "winners_already_imported" and caught.value.status_code == 409
    assert won(draw) == {("Ann", "Car"), ("Ben", "Mug"), ("Cat", "Mug")}


def test_a_raffle_takes_no_import(people):
    with pytest.raises(Exception) as caught:
        run_import(make_draw(), f"participant,prize\n{people['ann'].pk},Bicycle\n")
    assert caught.value.code == "draw_not_external" and caught.value.status_code == 409


# --- The command -----------------------------------------------------------------------


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_winners", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_imports_and_then_says_nothing_changed(draw, people, tmp_path):
    path = tmp_path / "winners.csv"
    path.write_text(good_csv(draw, people), encoding="utf-8")
    out, _ = command(draw.pk, path)
    assert "checked 3 row(s)" in out and f"Imported 3 winner(s) for draw {draw.pk}." in out
    out, _ = command(draw.pk, path)
    assert "Already imported" in out and "nothing changed" in out
    assert Winner.objects.count() == 3


def test_command_publishes_the_winners_on_the_draw_stream(draw, people, tmp_path,
                                                          django_capture_on_commit_callbacks):
    path = tmp_path / "winners.csv"
    path.write_text(good_csv(draw, people), encoding="utf-8")
    seq = last_seq(f"draw:{draw.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        command(draw.pk, path)
    published = history_since(f"draw:{draw.pk}", seq).messages
    assert [m["type"] for m in published] == [
        "draw.closing", "draw.started", "draw.winner", "draw.winner", "draw.finished"]
    winners = {m["data"]["prize"]["name"]: len(m["data"]["winners"]) for m in published
               if m["type"] == "draw.winner"}
    assert winners == {"Car": 1, "Mug": 2}
    assert Draw.objects.get(pk=draw.pk).performed_by == "import"
    assert AuditEntry.objects.get(action="winners.imported").actor_id is None


SEED_EXTERNAL_DRAW = """
from core.models import User
from tests.factories import make_draw
draw = make_draw(kind="external", prizes=[{"name": "Car", "rank": 1}])
winner = User.objects.create_user(email="ann@example.com", first_name="Ann")
print(draw.pk, winner.pk)
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_command_in_its_own_process_reaches_a_socket_on_a_running_server(tmp_path):
    """What watchers see: a socket on a real server gets the winners of an import made by
    `manage.py import_winners` in another process. On the server configuration the
    command publishes through Redis; on embedded defaults (SQLite file, no Redis) it
    writes the stream outbox and the server's in-process scheduler publishes."""
    import websockets.sync.client

    from tests.servers import manage, running_server

    with running_server(tmp_path) as server:
        # The data goes in through a process of its own: on embedded defaults the
        # server's SQLite file is not this test's database.
        draw_id, winner_id = manage(server.env, "shell", "-c", SEED_EXTERNAL_DRAW
                                    ).stdout.split()[-2:]
        path = tmp_path / "winners.csv"
        path.write_text(f"participant,prize\n{winner_id},Car\n", encoding="utf-8")
        with websockets.sync.client.connect(
                server.ws_url(f"/ws/draws/{draw_id}/"), subprotocols=["tombola.v1"],
                origin="http://127.0.0.1", open_timeout=5) as ws:
            snapshot = json.loads(ws.recv(timeout=5))
            assert snapshot["type"] == "snapshot"
            assert snapshot["data"]["draw"]["status"] == "open"
            imported = manage(server.env, "import_winners", draw_id, str(path))
            assert "Imported 1 winner(s)" in imported.stdout
            frames = []
            while "draw.finished" not in [f["type"] for f in frames]:
                frame = json.loads(ws.recv(timeout=10))
                if frame.get("stream") == f"draw:{draw_id}":
                    frames.append(frame)
    types = [f["type"] for f in frames]
    # The seed's own messages (draw.created) may arrive first if the server had not
    # published them yet when the socket connected.
    assert types[types.index("draw.closing"):] == [
        "draw.closing", "draw.started", "draw.winner", "draw.finished"]
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] > snapshot["seq"]
    (winner,) = [f for f in frames if f["type"] == "draw.winner"]
    assert winner["data"]["prize"]["name"] == "Car"
    assert [w["winner"] for w in winner["data"]["winners"]] == ["Ann"]


def test_command_lists_row_errors_and_fails(draw, people, tmp_path):
    path = tmp_path / "winners.csv"
    path.write_text("participant,prize\n999999,Car\n1,Sofa\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_winners", str(draw.pk), str(path), stdout=io.StringIO(), stderr=err)
    assert "row 2, participant: no such user" in err.getvalue()
    assert "row 3, prize: no such prize in this draw" in err.getvalue()
    assert not Winner.objects.exists()


def test_command_exit_codes(draw, people, tmp_path):
    """A CommandError's returncode is the process exit status (run_from_argv exits with it):
    1 for a bad file, an unknown draw, a missing file; success raises nothing (0)."""
    path = tmp_path / "winners.csv"
    path.write_text("participant,prize\n999999,Car\n", encoding="utf-8")
    for args in ([draw.pk, path], [999999, path], [draw.pk, tmp_path / "missing.csv"]):
        with pytest.raises(CommandError) as failed:
            command(*args)
        assert failed.value.returncode == 1
    path.write_text(good_csv(draw, people), encoding="utf-8")
    command(draw.pk, path)
    assert Winner.objects.count() == 3


def test_command_prints_progress_for_big_files(draw, tmp_path):
    from live.models import Prize

    Prize.objects.filter(draw=draw, name="Mug").update(quantity=2500)
    from core.models import User

    users = User.objects.bulk_create(User(email=f"w{i}@example.com") for i in range(2500))
    if users[0].pk is None:
        users = list(User.objects.filter(email__startswith="w").order_by("id"))
    path = tmp_path / "winners.csv"
    path.write_text("participant,prize\n" + "".join(f"{u.pk},Mug\n" for u in users))
    out, _ = command(draw.pk, path)
    assert "checked 1000 row(s)" in out and "checked 2000 row(s)" in out
    assert Winner.objects.count() == 2500


# --- The admin upload --------------------------------------------------------------------


@pytest.fixture
def admin_browser(staff):
    staff.user_permissions.add(Permission.objects.get(codename="change_draw"),
                               Permission.objects.get(codename="view_draw"))
    client = Client()
    client.force_login(staff)
    return client


def upload(client, draw, text):
    return client.post(f"/admin/live/draw/{draw.pk}/import-winners/",
                       {"file": SimpleUploadedFile("w.csv", text.encode())})


def test_staff_uploads_the_winners_file_in_the_admin(admin_browser, draw, people, staff):
    response = upload(admin_browser, draw, good_csv(draw, people))
    assert response.status_code == 302
    assert won(draw) == {("Ann", "Car"), ("Ben", "Mug"), ("Cat", "Mug")}
    assert AuditEntry.objects.get(action="winners.imported").actor_id == staff.pk


def test_admin_upload_shows_row_errors_and_imports_nothing(admin_browser, draw):
    response = upload(admin_browser, draw, "participant,prize\n999999,Car\n")
    assert response.status_code == 200
    assert "no such user" in response.content.decode()
    assert not Winner.objects.exists()


def test_admin_action_leads_to_the_upload_form(admin_browser, draw):
    response = admin_browser.post("/admin/live/draw/", {
        "action": "import_winners", "_selected_action": [draw.pk]})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/live/draw/{draw.pk}/import-winners/"
    assert admin_browser.get(response["Location"]).status_code == 200


def test_non_staff_cannot_upload(user, draw, people):
    client = Client()
    client.force_login(user)
    response = upload(client, draw, good_csv(draw, people))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Winner.objects.exists()


def test_staff_without_change_permission_is_refused(bare_staff, draw, people):
    client = Client()
    client.force_login(bare_staff)
    assert upload(client, draw, good_csv(draw, people)).status_code == 403
    assert not Winner.objects.exists()


def test_a_file_that_is_not_utf8_is_refused_with_a_row_error():
    with pytest.raises(InvalidWinnersFile) as refused:
        read_winners_csv("participant,prize\nJos\xe9,TV\n".encode("latin-1"))
    assert "UTF-8" in refused.value.extra["errors"][0]["message"]
