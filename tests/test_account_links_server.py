"""A real server on a free port, mail on the console backend (its log): the reset
link names the port the server runs on, not 8000, and following it resets the
password (the page's form, CSRF cookie and all)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.servers import running_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _wait_for(pattern: str, server, timeout: float = 10.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, server.log())
        if match:
            return match
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in the server log:\n{server.log()}")


def test_reset_link_from_the_console_mail_names_the_servers_port_and_works(tmp_path):
    with running_server(tmp_path, PUBLIC_BASE_URL="",
                        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"
                        ) as server, httpx.Client(base_url=server.url(""), timeout=30) as http:
        assert http.post("/api/accounts/register/", json={
            "email": "ann@example.com", "password": "a-long-passphrase"}).status_code == 201
        assert http.post("/api/accounts/password/reset/",
                         json={"email": "ann@example.com"}).status_code == 202
        link = _wait_for(r"(http://\S+/reset-password\?uid=\S+)", server).group(1)
        assert link.startswith(server.url("/reset-password?"))  # its own port, not :8000

        page = http.get(link)
        assert page.status_code == 200
        fields = dict(re.findall(r'name="(\w+)" value="([^"]+)"', page.text))
        done = http.post("/reset-password", data={
            **fields, "password": "a-new-passphrase", "password_again": "a-new-passphrase"})
        assert done.status_code == 200 and "Your password is set" in done.text
        assert http.post("/api/auth/token/", json={
            "email": "ann@example.com", "password": "a-new-passphrase"}).status_code == 200
