"""DATABASE_URL=sqlite:///... gets the SQLite options of the embedded default
(core/settings.py, database_settings): without them concurrent purchases answered
503 "database is locked" (issue 14)."""

from __future__ import annotations

import contextlib
import threading

from django.db import connections, transaction
from django.db.utils import ConnectionHandler

from core.settings import SQLITE_OPTIONS, database_settings


def test_the_embedded_default_and_a_sqlite_url_get_the_same_options(tmp_path):
    embedded = database_settings("", conn_max_age=0, sqlite_path=str(tmp_path / "a.sqlite3"))
    from_url = database_settings(f"sqlite:///{tmp_path}/b.sqlite3", conn_max_age=0,
                                 sqlite_path="unused")
    assert embedded["OPTIONS"] == from_url["OPTIONS"] == {
        "timeout": 20, "transaction_mode": "IMMEDIATE"}
    assert from_url["ENGINE"] == "django.db.backends.sqlite3"
    assert from_url["NAME"] == f"{tmp_path}/b.sqlite3"


def test_options_in_the_url_win(tmp_path):
    config = database_settings(f"sqlite:///{tmp_path}/c.sqlite3?timeout=3", conn_max_age=0,
                               sqlite_path="unused")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert str(config["OPTIONS"]["timeout"]) == "3"


def test_postgres_urls_get_no_sqlite_options():
    config = database_settings("postgres://u@db:5432/tombola", conn_max_age=60,
                               sqlite_path="unused")
    assert not set(SQLITE_OPTIONS) & set(config.get("OPTIONS", {}))
    assert config["CONN_MAX_AGE"] == 60


def _race(url: str, options: dict | None = None) -> tuple[list[BaseException], int]:
    """Two read-then-write transactions on one SQLite file at once, each on its own
    connection in its own thread: (errors, the counter both incremented)."""
    config = database_settings(url, conn_max_age=0, sqlite_path="unused")
    if options is not None:
        config["OPTIONS"] = options
    connections.settings["race"] = ConnectionHandler().configure_settings(
        {"default": config})["default"]
    both_read = threading.Barrier(2)
    errors: list[BaseException] = []

    def buy() -> None:
        connection = connections["race"]  # one connection per thread
        try:
            with transaction.atomic(using="race"), connection.cursor() as cursor:
                cursor.execute("SELECT sold FROM seat WHERE id = 1")
                (sold,) = cursor.fetchone()
                # Deferred: both read now. IMMEDIATE: the other waits in BEGIN for
                # our commit, so nobody comes and the barrier breaks after 1 s.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait(timeout=1)
                cursor.execute("UPDATE seat SET sold = %s WHERE id = 1", [sold + 1])
        except Exception as exc:  # the test reports whatever it was
            errors.append(exc)
        finally:
            connection.close()

    try:
        with connections["race"].cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS seat (id INTEGER PRIMARY KEY, sold INT)")
            cursor.execute("INSERT OR REPLACE INTO seat VALUES (1, 0)")
        connections["race"].close()
        threads = [threading.Thread(target=buy) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with connections["race"].cursor() as cursor:
            cursor.execute("SELECT sold FROM seat WHERE id = 1")
            (sold,) = cursor.fetchone()
        return errors, sold
    finally:
        connections["race"].close()
        del connections["race"]
        del connections.settings["race"]


def test_two_read_then_write_transactions_on_a_sqlite_url_both_commit(tmp_path,
                                                                     django_db_blocker):
    with django_db_blocker.unblock():
        errors, sold = _race(f"sqlite:///{tmp_path}/race.sqlite3")
    assert (errors, sold) == ([], 2)


def test_without_the_options_one_of_them_fails_database_is_locked(tmp_path,
                                                                  django_db_blocker):
    """What DATABASE_URL=sqlite:/// did before: the race test above guards something."""
    with django_db_blocker.unblock():
        errors, sold = _race(f"sqlite:///{tmp_path}/race.sqlite3", options={"timeout": 20})
    assert sold == 1 and len(errors) == 1 and "locked" in str(errors[0])
