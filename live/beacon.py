"""The drand randomness beacon: chains, round times, BLS signature checks, relay fetches.

No Django import: the standalone verifier (`python -m live.verify`) uses this module as
the server does. The Django side (settings, the draw's state) is in live/beacon_config.py
and live/services/performing.py.

A drand chain publishes round ``r`` at ``genesis_time + (r - 1) * period`` (round 1 at
genesis). Each round carries a BLS12-381 threshold signature by the chain's group key;
its randomness is ``sha256(signature)``. Two schemes are checked
(docs/decisions/2026-11-30-drand-beacon.md):

- ``bls-unchained-g1-rfc9380`` (quicknet, 3 s): signature on G1 (48 bytes compressed),
  public key on G2 (96 bytes), message ``sha256(round as 8 bytes big-endian)``, hashed to
  G1 with RFC 9380's ``BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_``.
- ``pedersen-bls-chained`` (the "default" chain, 30 s): signature on G2 (96 bytes),
  public key on G1 (48 bytes), message ``sha256(previous_signature || round as 8 bytes
  big-endian)``, hashed to G2 with ``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import sys
from dataclasses import asdict, dataclass
from typing import Any

UNCHAINED_G1 = "bls-unchained-g1-rfc9380"
CHAINED_G2 = "pedersen-bls-chained"
SCHEMES = (UNCHAINED_G1, CHAINED_G2)
DST_G1 = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chain:
    """What a draw records of its beacon at commit time (the proof's ``beacon.chain``)."""

    hash: str
    public_key: str
    period: int
    genesis_time: int
    scheme: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chain:
        chain = cls(hash=str(data["hash"]), public_key=str(data["public_key"]),
                    period=int(data["period"]), genesis_time=int(data["genesis_time"]),
                    scheme=str(data["scheme"]))
        if chain.scheme not in SCHEMES:
            raise ValueError(f"unsupported beacon scheme {chain.scheme!r}")
        if chain.period <= 0:
            raise ValueError("a beacon period is a positive number of seconds")
        return chain

    def round_time(self, round_: int) -> int:
        """Unix time at which `round_` is published."""
        return self.genesis_time + (round_ - 1) * self.period

    def round_after(self, unix_time: float) -> int:
        """The first round published strictly after `unix_time`."""
        if unix_time < self.genesis_time:
            return 1
        return math.floor((unix_time - self.genesis_time) / self.period) + 2


# Public facts of the League of Entropy mainnet (each relay's /<hash>/info).
KNOWN_CHAINS = {
    "quicknet": Chain(
        hash="52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
        public_key="83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a"
                   "0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274"
                   "ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
        period=3, genesis_time=1692803367, scheme=UNCHAINED_G1),
    "default": Chain(
        hash="8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce",
        public_key="868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda"
                   "66c7293784a9402801af31",
        period=30, genesis_time=1595431050, scheme=CHAINED_G2),
}


def known_chain(chain: Chain) -> str | None:
    """The name of the built-in chain `chain` is, or None (a chain this code does not know)."""
    for name, known in KNOWN_CHAINS.items():
        if known == chain:
            return name
    return None


@dataclass(frozen=True)
class Beacon:
    """One published round (as a relay's ``/<chain hash>/public/<round>`` answers it)."""

    round: int
    randomness: str
    signature: str
    previous_signature: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BeaconInvalid(Exception):
    """A round whose signature, round number or randomness does not check out."""


def message(chain: Chain, beacon: Beacon) -> bytes:
    """The 32 bytes the chain's group signed for `beacon`'s round."""
    round_bytes = beacon.round.to_bytes(8, "big")
    if chain.scheme == UNCHAINED_G1:
        return hashlib.sha256(round_bytes).digest()
    return hashlib.sha256(bytes.fromhex(beacon.previous_signature) + round_bytes).digest()


def _import_py_ecc() -> None:
    """Import py_ecc with the interpreter's recursion limit put back: its __init__ raises
    it to 100,000 for the whole process, which turns a deeply nested JSON body or frame
    into a C stack overflow (a dead worker) instead of a RecursionError (a 400)."""
    if "py_ecc" in sys.modules:
        return
    limit = sys.getrecursionlimit()
    try:
        import py_ecc  # noqa: F401
    finally:
        sys.setrecursionlimit(limit)


@functools.lru_cache(maxsize=8)
def _g2_public_key(public_key: bytes):
    """The chain's key as a G2 point, checked once per process (the subgroup check is
    the costliest part of a verification and a chain's key never changes); None if bad."""
    _import_py_ecc()
    from py_ecc.bls.point_compression import decompress_G2
    from py_ecc.bls.typing import G2Compressed
    from py_ecc.optimized_bls12_381 import curve_order, is_inf, multiply

    if len(public_key) != 96:
        return None
    try:
        key = decompress_G2((G2Compressed(int.from_bytes(public_key[:48], "big")),
                             G2Compressed(int.from_bytes(public_key[48:], "big"))))
    except ValueError:
        return None
    if is_inf(key) or not is_inf(multiply(key, curve_order)):
        return None
    return key


def _verify_g1_signature(public_key: bytes, msg: bytes, signature: bytes) -> bool:
    # Imported here: py_ecc takes ~0.3 s to import and only draws with a beacon need it.
    _import_py_ecc()
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.bls.point_compression import decompress_G1
    from py_ecc.bls.typing import G1Compressed
    from py_ecc.optimized_bls12_381 import (
        FQ12,
        G2,
        curve_order,
        final_exponentiate,
        is_inf,
        multiply,
        neg,
    )
    from py_ecc.optimized_bls12_381.optimized_pairing import miller_loop

    key = _g2_public_key(public_key)
    if key is None or len(signature) != 48:
        return False
    try:
        sig = decompress_G1(G1Compressed(int.from_bytes(signature, "big")))
    except ValueError:
        return False
    # A point of the prime-order subgroup only, and never the identity.
    if is_inf(sig) or not is_inf(multiply(sig, curve_order)):
        return False
    hashed = hash_to_G1(msg, DST_G1, hashlib.sha256)
    # e(H(m), pk) == e(sig, g2)  <=>  e(H(m), pk) * e(-sig, g2) == 1
    return final_exponentiate(miller_loop(key, hashed) * miller_loop(G2, neg(sig))) == FQ12.one()


def _verify_g2_signature(public_key: bytes, msg: bytes, signature: bytes) -> bool:
    _import_py_ecc()
    from py_ecc.bls import G2Basic  # DST BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_

    if len(public_key) != 48 or len(signature) != 96:
        return False
    return bool(G2Basic.Verify(public_key, msg, signature))


def verify(chain: Chain, beacon: Beacon, *, round_: int | None = None) -> None:
    """Raise BeaconInvalid unless `beacon` is `round_` of `chain`, signed by its group key,
    with randomness sha256(signature). The BLS check is the real pairing equation."""
    if round_ is not None and beacon.round != round_:
        raise BeaconInvalid(f"the beacon is round {beacon.round}, not the draw's round {round_}")
    try:
        signature = bytes.fromhex(beacon.signature)
        public_key = bytes.fromhex(chain.public_key)
        if chain.scheme == CHAINED_G2:
            bytes.fromhex(beacon.previous_signature)
    except ValueError:
        raise BeaconInvalid("the beacon's signature is not hex") from None
    if hashlib.sha256(signature).hexdigest() != beacon.randomness.lower():
        raise BeaconInvalid("the beacon's randomness is not sha256 of its signature")
    check = _verify_g1_signature if chain.scheme == UNCHAINED_G1 else _verify_g2_signature
    if not check(public_key, message(chain, beacon), signature):
        raise BeaconInvalid(f"the BLS signature of round {beacon.round} does not verify "
                            f"against the chain's public key")


# --- Fetching a round from relays ---------------------------------------------


class BeaconUnavailable(Exception):
    """No relay gave a valid round. `not_yet` when the round's time has not come."""

    def __init__(self, reason: str, *, not_yet: bool = False) -> None:
        super().__init__(reason)
        self.not_yet = not_yet


def _parse(body: Any) -> Beacon:
    if not isinstance(body, dict):
        raise BeaconInvalid("the relay's answer is not a JSON object")
    try:
        return Beacon(round=int(body["round"]), randomness=str(body["randomness"]),
                      signature=str(body["signature"]),
                      previous_signature=str(body.get("previous_signature") or ""))
    except (KeyError, TypeError, ValueError):
        raise BeaconInvalid("the relay's answer lacks round, randomness or signature") from None


def _canonical(chain: Chain, beacon: Beacon) -> Beacon:
    """`beacon` (verified) as the proof records it: lowercase hex without the spaces or
    capitals bytes.fromhex tolerates (a relay's "AB CD..." would otherwise reach the
    stored signature, overflow its column and fail verifiers that parse strict hex), and
    no previous signature on an unchained scheme, where nothing signs it."""
    signature = bytes.fromhex(beacon.signature)
    previous = bytes.fromhex(beacon.previous_signature).hex() if chain.scheme == CHAINED_G2 \
        else ""
    return Beacon(round=beacon.round, randomness=hashlib.sha256(signature).hexdigest(),
                  signature=signature.hex(), previous_signature=previous)


def fetch(chain: Chain, round_: int, *, relays: list[str], timeout: float,
          now: float) -> Beacon:
    """Round `round_` of `chain`, verified, from the first relay that serves it validly.

    Relays are tried in turn (each with `timeout` seconds for connect and read); one that
    fails, times out or serves a round that does not verify is logged and the next one is
    tried. Before the round's publication time no relay is asked. Raises BeaconUnavailable.
    """
    import httpx

    if now < chain.round_time(round_):
        raise BeaconUnavailable(f"round {round_} is published at {chain.round_time(round_)}",
                                not_yet=True)
    if not relays:
        raise BeaconUnavailable("no beacon relay is configured")
    failures = []
    not_yet = True
    for relay in relays:
        url = f"{relay.rstrip('/')}/{chain.hash}/public/{round_}"
        try:
            response = httpx.get(url, timeout=timeout, follow_redirects=False)
            if response.status_code in (404, 425):  # relays answer 404/425 for a future round
                failures.append(f"{relay}: round not published yet")
                continue
            not_yet = False
            if response.status_code != 200:
                logger.warning("beacon relay %s answered HTTP %s for round %s", relay,
                               response.status_code, round_)
                failures.append(f"{relay}: HTTP {response.status_code}")
                continue
            beacon = _parse(response.json())
            verify(chain, beacon, round_=round_)
            return _canonical(chain, beacon)
        except BeaconInvalid as exc:
            not_yet = False
            logger.warning("beacon relay %s served an invalid round %s: %s", relay, round_, exc)
            failures.append(f"{relay}: {exc}")
        except (httpx.HTTPError, ValueError) as exc:
            not_yet = False
            logger.warning("beacon relay %s failed for round %s: %s: %s", relay, round_,
                           exc.__class__.__name__, exc)
            failures.append(f"{relay}: {exc.__class__.__name__}")
    raise BeaconUnavailable("; ".join(failures), not_yet=not_yet)
