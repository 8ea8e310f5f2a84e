"""The signed ticket code: its byte layout, encoding and check. No Django here.

This module is shared by the server (ticketing/services/ticket_codes.py) and the
offline gate checker (ticketing/offline_gate.py), which runs on a gate's laptop with
only `cryptography` installed. docs/gates.md documents the format for other readers.

A code is ``TKT1:`` followed by the RFC 4648 base32 text (upper case, no padding) of

    payload   = varint(event_id) varint(ticket_id) varint(seat_id) varint(section_id)
    signature = Ed25519(event's private key, b"tombola-ticket-v1\\x00" + payload)  (64 bytes)
    code      = "TKT1:" + base32(payload + signature)

Varints are unsigned LEB128 (7 bits a byte, low first). Base32 letters and digits, the
prefix and ':' are all in a QR code's alphanumeric mode (5.5 bits a character instead of
8 in byte mode): a code with small ids is 114 characters, a version 5 QR code at level M
(37x37 modules); ids in the millions add a few characters.
"""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "TKT1:"
DOMAIN = b"tombola-ticket-v1\x00"
SIGNATURE_BYTES = 64
# Longer text than any real code is refused before decoding it (a scanner may send junk).
MAX_CODE_LENGTH = 200
MAX_ID = 2**63 - 1


class TicketClaims(NamedTuple):
    """What a valid signature vouches for."""

    event_id: int
    ticket_id: int
    seat_id: int
    section_id: int


class MalformedCode(ValueError):
    """Not a ticket code at all (wrong prefix, not base32, truncated)."""


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("ids are not negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varints(data: bytes, count: int) -> tuple[list[int], int]:
    values, pos = [], 0
    for _ in range(count):
        value = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise MalformedCode("truncated payload")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if value > MAX_ID:
            # Ids are the database's signed 64-bit integers; a bigger one is junk, and the
            # event id is looked up before any signature is checked.
            raise MalformedCode("id out of range")
        values.append(value)
    return values, pos


def payload_bytes(claims: TicketClaims) -> bytes:
    return b"".join(_varint(v) for v in claims)


def encode(claims: TicketClaims, private_key: Ed25519PrivateKey) -> str:
    payload = payload_bytes(claims)
    signature = private_key.sign(DOMAIN + payload)
    return PREFIX + base64.b32encode(payload + signature).decode("ascii").rstrip("=")


def decode(code: str) -> tuple[TicketClaims, bytes, bytes]:
    """-> (claims, payload, signature), unverified. Raises MalformedCode."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        raise MalformedCode("not a ticket code")
    code = code.strip()
    if not code.upper().startswith(PREFIX):
        raise MalformedCode("not a ticket code")
    body = code[len(PREFIX):].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise MalformedCode("not base32") from None
    if len(raw) <= SIGNATURE_BYTES:
        raise MalformedCode("too short")
    payload, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    values, used = _read_varints(payload, 4)
    if used != len(payload):
        raise MalformedCode("trailing bytes")
    return TicketClaims(*values), payload, signature


def verify(code: str, public_keys: dict[int, Ed25519PublicKey]) -> TicketClaims:
    """The claims of `code` if its signature is good under its event's key.

    `public_keys` maps event ids to keys. Raises MalformedCode, KeyError (no key for
    the code's event: another event's ticket, or a forged event id) or InvalidSignature.
    """
    claims, payload, signature = decode(code)
    public_keys[claims.event_id].verify(signature, DOMAIN + payload)
    return claims


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


__all__ = ["PREFIX", "InvalidSignature", "MalformedCode", "TicketClaims", "decode", "encode",
           "public_key_from_bytes", "verify"]
