"""Ticket codes: each ticket's signed secret and its QR code.

`ticket_code(ticket) -> str` is the text a gate scans (ticketing/ticket_code_format.py
documents its bytes); `ticket_qr_svg(ticket) -> str` draws it as an SVG QR code. Both are
deterministic (Ed25519 signatures are), so nothing is stored per ticket: the code is
computed whenever the owner reads the ticket. Only the ticket's owner is shown it (the
views read tickets through `selectors.tickets_of(user)`).

A code stays cryptographically valid after a refund; what stops it working is the ticket's
status, which the online scan reads and the offline gates' list of valid ids leaves out.
"""

from __future__ import annotations

import io
import os
import threading

import segno
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction

from ticketing import ticket_code_format as fmt
from ticketing.models import Ticket, TicketSigningKey

_RAW = serialization.Encoding.Raw
_lock = threading.Lock()
# (event id, sealed private key) -> key pair: decrypting is the slow part, and the sealed
# bytes (a random nonce) name one key row for ever, even where ids are reused (SQLite
# tests roll back), so the cache is never stale. The row itself is read with the ticket
# or event (select_related("event__signing_key")).
_keys: dict[tuple[int, bytes], tuple[Ed25519PrivateKey, Ed25519PublicKey]] = {}


def _wrapping_key() -> AESGCM:
    secret = settings.TICKET_SIGNING_SECRET.encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"tombola ticket signing keys v1").derive(secret)
    return AESGCM(key)


def _aad(event_id: int) -> bytes:
    # Binds a stored key to its event: a ciphertext copied to another event's row
    # does not decrypt there.
    return f"tombola-ticket-key:event:{event_id}".encode()


def _new_key_row(event_id: int) -> TicketSigningKey:
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    nonce = os.urandom(12)
    sealed = nonce + _wrapping_key().encrypt(nonce, raw, _aad(event_id))
    return TicketSigningKey(
        event_id=event_id,
        public_key=private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
        private_key_encrypted=sealed,
    )


def _open(row: TicketSigningKey) -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    sealed = bytes(row.private_key_encrypted)
    raw = _wrapping_key().decrypt(sealed[:12], sealed[12:], _aad(row.event_id))
    private = Ed25519PrivateKey.from_private_bytes(raw)
    return private, private.public_key()


def signing_key_row(event_id: int) -> TicketSigningKey:
    """The event's key row, created on first use (two processes at once: one row wins)."""
    row = TicketSigningKey.objects.filter(event_id=event_id).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return TicketSigningKey.objects.create(**_fields(_new_key_row(event_id)))
    except IntegrityError:
        return TicketSigningKey.objects.get(event_id=event_id)


def on_event_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of Event: a new event gets its key pair at once, so reading tickets never
    writes (events from before signed tickets get theirs on their first code)."""
    if created and not raw:
        signing_key_row(instance.pk)


def _fields(row: TicketSigningKey) -> dict:
    return {"event_id": row.event_id, "public_key": row.public_key,
            "private_key_encrypted": row.private_key_encrypted}


def key_pair(row: TicketSigningKey) -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    cache_key = (row.event_id, bytes(row.private_key_encrypted))
    keys = _keys.get(cache_key)
    if keys is None:
        keys = _open(row)
        with _lock:
            _keys[cache_key] = keys
    return keys


def event_key_row(event) -> TicketSigningKey:
    """`event`'s key row: the one select_related("signing_key") loaded, else read or made."""
    try:
        return event.signing_key
    except TicketSigningKey.DoesNotExist:
        row = signing_key_row(event.pk)
        event.signing_key = row  # cached on the instance: its other tickets need no query
        return row


def public_key_bytes(row: TicketSigningKey) -> bytes:
    return bytes(row.public_key)


def ticket_claims(ticket: Ticket) -> fmt.TicketClaims:
    return fmt.TicketClaims(event_id=ticket.event_id, ticket_id=ticket.pk,
                            seat_id=ticket.seat_id, section_id=ticket.seat.row.section_id)


def ticket_code(ticket: Ticket) -> str:
    """The ticket's signed code: the text its QR code carries and a gate scans.

    Works for any ticket row (cancelled ones too: the code is then refused at the gate);
    reads `ticket.seat.row` and `ticket.event.signing_key` (selectors.tickets_of loads both
    with the ticket) and creates the event's key on its first code.
    """
    return fmt.encode(ticket_claims(ticket), key_pair(event_key_row(ticket.event))[0])


def qr_svg(text: str, *, scale: int = 4) -> str:
    """`text` as an SVG QR code (level M; segno picks alphanumeric mode for a code)."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="svg", scale=scale, border=4,
                                                  xmldecl=False)
    return buffer.getvalue().decode("utf-8")


def ticket_qr_svg(ticket: Ticket, *, scale: int = 4) -> str:
    """The ticket's code as an SVG QR code (a string starting with "<svg")."""
    return qr_svg(ticket_code(ticket), scale=scale)
