from channels.generic.websocket import AsyncJsonWebsocketConsumer

from consumers import drain


class HealthConsumer(AsyncJsonWebsocketConsumer):
    """ws/health/: accepts, says hello, answers {"type": "ping"} with pong."""

    async def connect(self):
        await self.accept()
        if await drain.opened(self):  # else the worker is draining: closed with 1012
            await self.send_json({"type": "hello"})

    async def disconnect(self, code):
        drain.closed(self)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "code": "unknown_message", "detail": "Send {\"type\": \"ping\"}."}
            )
