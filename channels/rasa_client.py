"""The one place that speaks HTTP to the Rasa server (REST channel + HTTP API)."""
from __future__ import annotations

import asyncio
from typing import Any, Optional, TypedDict
from urllib.parse import quote

import aiohttp


class BotMessage(TypedDict, total=False):
    """What the REST channel returns for each bot utterance."""
    recipient_id: str
    text: str
    buttons: list[dict[str, str]]
    image: str
    custom: dict[str, Any]


class RasaUnavailable(Exception):
    """Rasa did not answer (down, restarting or too slow)."""


class RasaClient:
    def __init__(self, base_url: str, http: aiohttp.ClientSession, token: str = "",
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _params(self) -> dict[str, str]:
        return {"token": self.token} if self.token else {}

    async def _request(self, method: str, path: str, params: Optional[dict[str, str]] = None, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with self.http.request(method, url, params={**self._params(), **(params or {})},
                                         timeout=self.timeout, **kwargs) as resp:
                if resp.status >= 500:
                    raise RasaUnavailable(f"{method} {path}: HTTP {resp.status}")
                resp.raise_for_status()
                return await resp.json(content_type=None)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise RasaUnavailable(f"{method} {path}: {exc.__class__.__name__}") from exc

    async def send(self, sender: str, text: str, metadata: Optional[dict[str, Any]] = None) -> list[BotMessage]:
        """A resident's message in, the assistant's replies out (REST channel)."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        return await self._request("POST", "/webhooks/rest/webhook", json=body) or []

    async def tracker(self, sender: str) -> dict[str, Any]:
        return await self._request("GET", f"/conversations/{quote(sender, safe='')}/tracker",
                                   params={"include_events": "ALL"})

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._request("POST", f"/conversations/{quote(sender, safe='')}/tracker/events", json=events)

    async def trigger_intent(self, sender: str, intent: str, entities: Optional[dict[str, Any]] = None) -> list[BotMessage]:
        """Run an intent for ``sender`` outside their turn; the replies come back in the response."""
        body = {"name": intent, "entities": entities or {}}
        result = await self._request("POST", f"/conversations/{quote(sender, safe='')}/trigger_intent",
                                     json=body, params={"output_channel": "latest"})
        return result.get("messages", []) if isinstance(result, dict) else []
