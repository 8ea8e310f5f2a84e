"""The offline gate checker: checks ticket codes with no network, queues the scans and
uploads them when the network is back. Needs only `cryptography` and the standard library
(no Django): copy this file and ticketing/ticket_code_format.py to the gate's laptop.

    gate = OfflineGate.download("https://tombola.example", event_id=7, gate="North",
                                token="<a gate account's access token>")
    gate.save("north.json")              # survives a restart: OfflineGate.load("north.json")
    answer = gate.check(scanned_text)    # .result: valid, already_used, refunded, ...
    gate.upload(token=...)               # when the network is back; safe to repeat

What it knows is the bundle of GET /api/events/<id>/gates/offline/ (docs/gates.md): the
event's Ed25519 public key, its gates and the sections each admits, and the valid ticket
ids with those already used at download time. A code is `valid` when its signature checks
under the event's key, its ticket is in the valid list (or was sold after the download:
an id above `issued_up_to`), the gate admits its section and this gate has not let it in
yet. What it cannot know is another offline gate's scan: the server settles that at the
upload, first scan wins, and reports the other to staff.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ticketing import ticket_code_format as fmt

UPLOAD_BATCH = 500  # the server's most scans per upload


@dataclass(frozen=True)
class OfflineAnswer:
    result: str  # valid, already_used, refunded, wrong_event, wrong_gate, invalid
    ticket_id: int | None = None
    scan_id: str | None = None  # set when the scan was queued for upload


class OfflineGate:
    def __init__(self, *, bundle: dict[str, Any], gate: str, base_url: str = "",
                 queue: list[dict[str, str]] | None = None,
                 uploaded: dict[str, str] | None = None) -> None:
        self.bundle = bundle
        self.gate = gate
        self.base_url = base_url.rstrip("/")
        self.event_id = int(bundle["event_id"])
        self._key = fmt.public_key_from_bytes(base64.b64decode(bundle["public_key"]))
        gates = {g["name"]: set(g["section_ids"]) for g in bundle["gates"]}
        if gate not in gates:
            raise ValueError(f"the event has no gate {gate!r}")
        self._sections = gates[gate]
        self._valid = set(bundle["valid"])
        self._used = set(bundle["used"])
        self._issued_up_to = int(bundle["issued_up_to"])
        self.queue = list(queue or [])  # scans not uploaded yet
        self.uploaded = dict(uploaded or {})  # scan_id -> the server's result
        for item in self.queue:
            claims = _claims(item["code"])
            if claims is not None:
                self._used.add(claims.ticket_id)

    # --- checking -------------------------------------------------------------------

    def check(self, code: str, *, now: datetime | None = None) -> OfflineAnswer:
        """Decide on `code` offline; a `valid` one is let in and queued for upload."""
        try:
            claims = fmt.verify(code, {self.event_id: self._key})
        except KeyError:
            return OfflineAnswer("wrong_event")  # another event's code (unverifiable here)
        except (fmt.MalformedCode, fmt.InvalidSignature):
            return OfflineAnswer("invalid")
        ticket_id = claims.ticket_id
        if ticket_id not in self._valid and ticket_id <= self._issued_up_to:
            return OfflineAnswer("refunded", ticket_id)
        if self._sections and claims.section_id not in self._sections:
            return OfflineAnswer("wrong_gate", ticket_id)
        if ticket_id in self._used:
            return OfflineAnswer("already_used", ticket_id)
        self._used.add(ticket_id)
        scan_id = str(uuid.uuid4())
        moment = (now or datetime.now(UTC)).isoformat()
        self.queue.append({"scan_id": scan_id, "code": code.strip(), "scanned_at": moment})
        return OfflineAnswer("valid", ticket_id, scan_id)

    # --- network --------------------------------------------------------------------

    @classmethod
    def download(cls, base_url: str, *, event_id: int, gate: str, token: str,
                 page_size: int = 5000) -> OfflineGate:
        """Fetch every page of the event's bundle (while the network is up)."""
        after, valid, used, bundle = 0, [], [], None
        while True:
            page = _request(f"{base_url.rstrip('/')}/api/events/{event_id}/gates/offline/"
                            f"?after={after}&limit={page_size}", token=token)
            bundle = bundle or page
            valid += page["valid"]
            used += page["used"]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        bundle = {**bundle, "valid": valid, "used": used, "next_after": None}
        return cls(bundle=bundle, gate=gate, base_url=base_url)

    def upload_bodies(self) -> list[dict[str, Any]]:
        """The queued scans as POST .../scans/upload/ bodies (at most 500 scans each)."""
        return [{"gate": self.gate, "scans": self.queue[i:i + UPLOAD_BATCH]}
                for i in range(0, len(self.queue), UPLOAD_BATCH)]

    def accept_results(self, results: list[dict[str, Any]]) -> None:
        """Forget the queued scans the server answered (results of an upload)."""
        done = {r["scan_id"]: r["result"] for r in results}
        self.uploaded.update(done)
        self.queue = [item for item in self.queue if item["scan_id"] not in done]

    def upload(self, *, token: str) -> list[dict[str, Any]]:
        """Send the queue; -> the server's results (`conflict`: another gate's earlier scan
        of the ticket keeps the entry). Stops at the first failure, keeping the rest."""
        results = []
        for body in self.upload_bodies():
            answer = _request(f"{self.base_url}/api/events/{self.event_id}/scans/upload/",
                              token=token, body=body)
            self.accept_results(answer["results"])
            results += answer["results"]
        return results

    # --- state on disk ----------------------------------------------------------------

    def save(self, path: str) -> None:
        state = {"bundle": self.bundle, "gate": self.gate, "base_url": self.base_url,
                 "queue": self.queue, "uploaded": self.uploaded}
        with open(path, "w", encoding="utf-8") as out:
            json.dump(state, out)

    @classmethod
    def load(cls, path: str) -> OfflineGate:
        with open(path, encoding="utf-8") as source:
            return cls(**json.load(source))


def _claims(code: str) -> fmt.TicketClaims | None:
    try:
        return fmt.decode(code)[0]
    except fmt.MalformedCode:
        return None


def _request(url: str, *, token: str, body: dict | None = None) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise ValueError("the server's address must be http(s)://")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
        url, data=data, method="GET" if body is None else "POST")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our server)
        return json.load(response)
