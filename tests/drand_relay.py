"""Recorded drand rounds and a real local HTTP server standing in for beacon relays.

The rounds are public facts of the League of Entropy mainnet: each relay answers
``GET /<chain hash>/public/<round>`` with them (quicknet rounds 2 and 3; the default
chain's rounds 3 and 4 with their previous signatures). Randomness is sha256(signature).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from live.beacon import KNOWN_CHAINS, Beacon, Chain

QUICKNET = KNOWN_CHAINS["quicknet"]
DEFAULT = KNOWN_CHAINS["default"]

QUICKNET_ROUNDS = {
    2: Beacon(round=2,
              randomness="5782d6987841c654515a0e72b2d1ebb4e741234042c37cb19608ae50d93fb60c",
              signature="b6b6a585449b66eb12e875b64fcbab3799861a00e4dbf092d99e969a5eac57dd"
                        "3f798acf61e705fe4f093db926626807"),
    3: Beacon(round=3,
              randomness="7ef4621ace1c6da4eb2eee7cd901f81385bca5b189771ec0f08d0d2566dd1a21",
              signature="b3fab6df720b68cc47175f2c777e86d84187caab5770906f515ff1099cb01e4d"
                        "eaa027075d860823e49477b93c72bd64"),
}
_DEFAULT_SIG_2 = ("aa18facd2d51b616511d542de6f9af8a3b920121401dad1434ed1db4a565f10e04fad8d9b2b4e3e"
                  "0094364374caafe9b10478bf75650124831509c638b5a36a7a232ec70289f8751a2adb47fc32eb"
                  "70b57dc81c39d48cbcac9fec46cdfc31663")
_DEFAULT_SIG_3 = ("a7b0877eaea7a0222f4c39a2c03434c34f5fe3ea47c533d24b88e5c3053b84775ccb78e984addcb"
                  "55173f40428513f280cc6e0fccc3c89bb1625c7c0b477deb6faae43fc6ec036f09233bf38da1658"
                  "6b3042dd01a7e9ed97c8bafa343cc6071e")
_DEFAULT_SIG_4 = ("b3d74f1ab9da993e3e3c01d1a395cce8834b42de57f5ad922ac63b2e715c238f986f3098d379ce6"
                  "aad07b8581e4cfd6d1533835d5e2a7e299beec8851a21c8f9ca2d714d87a471641427d21838fb2ca"
                  "1a406707bb0b372f74ab667f0509fa341")
DEFAULT_ROUNDS = {
    3: Beacon(round=3, randomness=hashlib.sha256(bytes.fromhex(_DEFAULT_SIG_3)).hexdigest(),
              signature=_DEFAULT_SIG_3, previous_signature=_DEFAULT_SIG_2),
    4: Beacon(round=4, randomness=hashlib.sha256(bytes.fromhex(_DEFAULT_SIG_4)).hexdigest(),
              signature=_DEFAULT_SIG_4, previous_signature=_DEFAULT_SIG_3),
}

# Tests need "the round after now" to be a recorded one: the same group key (so the
# signatures are the real ones) with a genesis chosen for the test. Its hash is not
# quicknet's, so the verifier calls it what it is: not a built-in chain.
TEST_CHAIN_HASH = hashlib.sha256(b"tombola test chain: quicknet key, moved genesis").hexdigest()


def moved_chain_info(*, round_: int, after: float, period: int = 2) -> dict:
    """Quicknet's key and scheme, with a genesis such that round_after(t) == round_ for
    t in [floor(after), floor(after) + 1) and that round comes out at floor(after) + period."""
    genesis = math.floor(after) - (round_ - 2) * period
    return Chain(hash=TEST_CHAIN_HASH, public_key=QUICKNET.public_key, period=period,
                 genesis_time=genesis, scheme=QUICKNET.scheme).as_dict()


@dataclass
class Relay:
    """One relay: `mode` "ok", "timeout" (answers after `delay`), "wrong_signature" (serves
    another round's signature), "down" (500); `published` limits the rounds it has."""

    mode: str = "ok"
    delay: float = 2.0
    published: set[int] | None = None
    rounds: dict[int, Beacon] = field(default_factory=lambda: dict(QUICKNET_ROUNDS))
    requests: list[str] = field(default_factory=list)
    url: str = ""


@contextlib.contextmanager
def drand_relays(*relays: Relay, chain_hash: str = TEST_CHAIN_HASH):
    """Serve each Relay on its own loopback port; yields them with `url` set."""
    servers = []

    def handler_for(relay: Relay):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                relay.requests.append(self.path)
                prefix = f"/{chain_hash}/public/"
                round_text = self.path[len(prefix):] if self.path.startswith(prefix) else ""
                if relay.mode == "timeout":
                    time.sleep(relay.delay)
                if relay.mode == "down":
                    return self._answer(500, {"error": "internal"})
                if not round_text.isdigit():
                    return self._answer(404, {"error": "no such chain or round"})
                round_ = int(round_text)
                beacon = relay.rounds.get(round_)
                if beacon is None or (relay.published is not None
                                      and round_ not in relay.published):
                    return self._answer(404, {"error": "round not published yet"})
                body = beacon.as_dict()
                if relay.mode == "wrong_signature":
                    other = next(b for r, b in relay.rounds.items() if r != round_)
                    body.update(signature=other.signature, randomness=other.randomness)
                if not body["previous_signature"]:
                    del body["previous_signature"]
                self._answer(200, body)

            def _answer(self, status, body):
                with contextlib.suppress(OSError):  # the client may have timed out and gone
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args):
                pass

        return Handler

    try:
        for relay in relays:
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(relay))
            server.daemon_threads = True
            relay.url = f"http://127.0.0.1:{server.server_address[1]}"
            thread = threading.Thread(target=server.serve_forever,
                                      kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            servers.append((server, thread))
        yield relays
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
