"""Provable fairness: commit to a secret seed, freeze the entries, derive winners.

Pure functions with no Django import, so that the standalone verifier
(`python -m live.verify proof.json`) is this same code.

Scheme ``tombola-hmac-sha256-v1`` (anchors: RFC 3797, commit-reveal):

1. At creation a 32-byte seed comes from ``secrets``; ``sha256(seed)`` is published.
2. When entries close, the entries ordered by id are frozen into a digest:
   ``sha256("\\n".join(lines))`` where a line is the entry id in decimal, followed
   by ``":" + numbers`` for a lottery ballot (numbers sorted, comma separated).
3. Random integers are drawn from the stream
   ``HMAC-SHA256(key=seed, msg=digest || counter)`` (digest as 32 raw bytes,
   counter as 8 bytes big-endian, from 0): the first 8 bytes of each block are an
   unsigned integer ``x``; ``x`` is rejected when ``x >= floor(2**64 / n) * n``,
   so ``x mod n`` is uniform (no modulo bias).
4. Picks are without replacement: pick ``i`` draws ``r`` uniform in
   ``[0, population - i)`` and takes the ``r``-th index not yet picked. The
   sequence is a prefix of any longer one, so a redraw continues it.
5. After the draw the seed is revealed; anyone recomputes steps 1-4.

Scheme ``tombola-beacon-v2`` (issue 19; docs/fairness.md) is the same with one more
input: the randomness of a drand round fixed at commit time and published only after
entries close (live/beacon.py). The stream becomes
``HMAC-SHA256(key=seed, msg=digest || beacon randomness || counter)`` (the randomness as
its 32 raw bytes). A draw whose round never came and that staff performed without it
(an explicit, recorded fallback) uses an empty beacon randomness, i.e. the v1 stream.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Iterator

ALGORITHM = "tombola-hmac-sha256-v1"
ALGORITHM_BEACON = "tombola-beacon-v2"
ALGORITHMS = (ALGORITHM, ALGORITHM_BEACON)
_U64 = 2**64


def new_seed() -> str:
    """A fresh 32-byte seed, hex encoded."""
    return secrets.token_bytes(32).hex()


def commitment(seed_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def entry_line(entry_id: int, numbers: str = "") -> str:
    return f"{entry_id}:{numbers}" if numbers else str(entry_id)


class EntryDigest:
    """Incremental SHA-256 over entry lines joined by newlines (feed in id order)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0

    def update(self, line: str) -> None:
        self._hash.update((("\n" if self.count else "") + line).encode())
        self.count += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def digest_lines(lines: Iterable[str]) -> tuple[str, int]:
    digest = EntryDigest()
    for line in lines:
        digest.update(line)
    return digest.hexdigest(), digest.count


def random_stream(seed_hex: str, digest_hex: str, beacon_hex: str = "") -> Iterator[int]:
    """Unsigned 64-bit integers from HMAC-SHA256(seed, digest || beacon || counter)
    (v1: no beacon)."""
    key, prefix = bytes.fromhex(seed_hex), bytes.fromhex(digest_hex) + bytes.fromhex(beacon_hex)
    counter = 0
    while True:
        block = hmac.new(key, prefix + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        yield int.from_bytes(block[:8], "big")
        counter += 1


def uniform(stream: Iterator[int], n: int) -> int:
    """Uniform integer in [0, n) by rejection sampling."""
    if n <= 0:
        raise ValueError("empty range")
    limit = (_U64 // n) * n
    for x in stream:
        if x < limit:
            return x % n
    raise RuntimeError("unreachable")  # the stream is infinite


def pick_indices(seed_hex: str, digest_hex: str, population: int, count: int,
                 beacon_hex: str = "") -> list[int]:
    """`count` distinct indices in [0, population), in pick order."""
    stream = random_stream(seed_hex, digest_hex, beacon_hex)
    picked: list[int] = []
    ordered: list[int] = []  # picked, sorted, to map r to the r-th unpicked index
    for i in range(min(count, population)):
        index = uniform(stream, population - i)
        for taken in ordered:
            if taken <= index:
                index += 1
            else:
                break
        picked.append(index)
        ordered.append(index)
        ordered.sort()
    return picked


def winning_numbers(seed_hex: str, digest_hex: str, k: int, n: int,
                    beacon_hex: str = "") -> list[int]:
    """k distinct numbers in 1..n, sorted."""
    return sorted(i + 1 for i in pick_indices(seed_hex, digest_hex, n, k, beacon_hex))
