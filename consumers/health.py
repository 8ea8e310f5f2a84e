from consumers import drain
from consumers.limits import LimitedConsumer
from consumers.protocol import ProtocolError


class HealthConsumer(LimitedConsumer):
    """ws/health/: accepts, says hello, answers {"type": "ping"} with pong.

    Unauthenticated and cheap, so the same limits as the stream sockets
    (consumers/limits.py): frame size, nesting, rate, open connections.
    """

    async def connect(self):
        self.start_limits()
        await self.accept()
        if not await drain.opened(self):  # the worker is draining: closed with 1012
            return
        try:
            self.count_connection()
        except ProtocolError as exc:
            await self.fail(exc)
            return
        await self.send_json({"type": "hello"})

    async def disconnect(self, code):
        await super().disconnect(code)
        drain.closed(self)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "code": "unknown_message", "detail": "Send {\"type\": \"ping\"}."}
            )
