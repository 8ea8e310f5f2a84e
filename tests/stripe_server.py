"""A real local HTTP server standing in for Stripe's API, and Stripe's webhook signing.

The `stripe` library is pointed at it (settings.STRIPE_API_BASE) and speaks to it as to
api.stripe.com: form-encoded POSTs with `Authorization: Bearer sk_...` and
`Idempotency-Key`. It answers with the documented object shapes (PaymentIntent, Refund,
error bodies) and keeps Stripe's idempotency rule: the same key returns the first object.
`event(...)` builds webhook events as Stripe sends them and `signature_header(...)` signs
them the documented way: HMAC-SHA256, keyed with the endpoint's secret, over
"<timestamp>.<raw body>", sent as `Stripe-Signature: t=<timestamp>,v1=<hex>`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

TEST_SECRET_KEY = "sk_test_tombola_51Fake"
TEST_WEBHOOK_SECRET = "whsec_test_tombola_endpoint_secret"


def signature_header(payload: bytes | str, secret: str = TEST_WEBHOOK_SECRET,
                     timestamp: int | None = None) -> str:
    if isinstance(payload, bytes):
        payload = payload.decode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def form_to_nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to a dict: metadata[key]=v -> {"metadata": {"key": v}}."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    intents: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    by_idempotency_key: dict[str, dict] = field(default_factory=dict)
    # (status, error object) to answer the next calls with, e.g. an invalid_request_error.
    fail_with: tuple[int, dict] | None = None

    def posts(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    # --- what the API answers ---------------------------------------------------------

    def create_intent(self, params: dict) -> dict:
        pi = f"pi_{secrets.token_hex(12)}"
        intent = {
            "id": pi, "object": "payment_intent",
            "amount": int(params["amount"]), "amount_capturable": 0, "amount_received": 0,
            "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
            "canceled_at": None, "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{pi}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic", "created": int(time.time()),
            "currency": params["currency"], "customer": None,
            "description": params.get("description"), "last_payment_error": None,
            "latest_charge": None, "livemode": False, "metadata": params.get("metadata", {}),
            "next_action": None, "payment_method": None, "payment_method_types": ["card"],
            "status": "requires_payment_method",
        }
        self.intents[pi] = intent
        return intent

    def create_refund(self, params: dict) -> dict:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise LookupError(params.get("payment_intent"))
        refund = {
            "id": f"re_{secrets.token_hex(12)}", "object": "refund",
            "amount": int(params.get("amount") or intent["amount"]),
            "charge": intent["latest_charge"], "created": int(time.time()),
            "currency": intent["currency"], "metadata": params.get("metadata", {}),
            "payment_intent": intent["id"], "reason": params.get("reason"),
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    # --- what Stripe sends to the webhook ---------------------------------------------

    def event(self, intent_id: str, type: str = "payment_intent.succeeded",
              **changes: Any) -> bytes:
        """The raw body of a webhook event about an intent (after the payment)."""
        intent = copy.deepcopy(self.intents[intent_id])
        if type == "payment_intent.succeeded":
            intent.update(status="succeeded", amount_received=intent["amount"],
                          latest_charge=f"ch_{secrets.token_hex(12)}",
                          payment_method=f"pm_{secrets.token_hex(12)}")
        elif type == "payment_intent.payment_failed":
            intent.update(status="requires_payment_method", last_payment_error={
                "code": "card_declined", "decline_code": "generic_decline",
                "message": "Your card was declined.", "type": "card_error"})
        intent.update(changes)
        self.intents[intent_id] = copy.deepcopy(intent)
        return json.dumps({
            "id": f"evt_{secrets.token_hex(12)}", "object": "event",
            "api_version": "2025-09-30.clover", "created": int(time.time()),
            "data": {"object": intent}, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type,
        }, indent=2).encode()


@contextlib.contextmanager
def fake_stripe():
    state = FakeStripe()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            params = form_to_nested(parse_qsl(raw, keep_blank_values=True))
            path = self.path.split("?")[0]
            with lock:
                state.requests.append(Request(self.command, path, dict(self.headers), params))
                if not self.headers.get("Authorization", "").startswith("Bearer sk_test_"):
                    self._answer(401, {"error": {"type": "invalid_request_error",
                                                 "message": "Invalid API Key provided."}})
                    return
                if state.fail_with is not None:
                    self._answer(*state.fail_with)
                    return
                key = self.headers.get("Idempotency-Key")
                if key and key in state.by_idempotency_key:
                    self._answer(200, state.by_idempotency_key[key])
                    return
                if self.command == "POST" and path == "/v1/payment_intents":
                    body = state.create_intent(params)
                elif self.command == "POST" and path == "/v1/refunds":
                    try:
                        body = state.create_refund(params)
                    except LookupError:
                        self._answer(404, {"error": {
                            "type": "invalid_request_error", "code": "resource_missing",
                            "param": "payment_intent",
                            "message": "No such payment_intent."}})
                        return
                elif self.command == "GET" and path.startswith("/v1/payment_intents/"):
                    body = state.intents[path.rsplit("/", 1)[1]]
                else:
                    self._answer(404, {"error": {"type": "invalid_request_error",
                                                 "message": f"Unrecognized request URL "
                                                            f"({self.command}: {path})."}})
                    return
                if key:
                    state.by_idempotency_key[key] = body
                self._answer(200, body)

        do_GET = do_POST = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
