"""HttpCaseStore: the CaseStore interface over HTTP to an external case system (e.g. another bianmin's
``/api/cases``, see web/cases_api.py for the contract).

Each request has its own timeout; connection errors, timeouts and 5xx answers are retried a bounded number
of times with exponential back-off. Every write carries an ``Idempotency-Key`` header — the submission key
for ``create``, a fresh key per logical call for status/note/rating, reused across that call's retries — so
a retry after a lost response never makes a second ticket or a second event. When the retries are used up
the caller gets ``CaseStoreUnavailable``: as far as it can know, the ticket was NOT stored.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from typing import Any, Callable, Optional
from urllib.parse import quote

import aiohttp

from cases.store import (CaseStoreUnavailable, CreateResult, InvalidRating, InvalidTransition, NewTicket, Status,
                         Ticket, TicketNotFound, TicketPage)
from cases.wire import new_ticket_to_json, ticket_from_json

log = logging.getLogger(__name__)

SessionFactory = Callable[[], aiohttp.ClientSession]
_RETRYABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class HttpCaseStore:
    def __init__(self, base_url: str, token: str, session_factory: Optional[SessionFactory] = None, *,
                 timeout: float = 4.0, retries: int = 2, backoff: float = 0.25, max_backoff: float = 2.0) -> None:
        if not base_url:
            raise ValueError("HttpCaseStore needs the case system's base URL")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session_factory = session_factory or aiohttp.ClientSession
        self._session: Optional[aiohttp.ClientSession] = None
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff

    def __repr__(self) -> str:  # never show the token
        return f"HttpCaseStore({self.base_url!r})"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._session_factory()
        return self._session

    def _delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * random.uniform(0.75, 1.25)

    async def _request(self, method: str, path: str, *, body: Any = None, params: Optional[dict[str, Any]] = None,
                       idempotency_key: Optional[str] = None) -> tuple[int, Any]:
        """(status, JSON body) of the first non-5xx answer; CaseStoreUnavailable when attempts run out."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        clean_params = {k: str(v) for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}{path}"
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self._delay(attempt))
            try:
                async with self._http().request(method, url, json=body, params=clean_params, headers=headers,
                                                timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                    status = resp.status
                    raw = await resp.read()
            except _RETRYABLE as exc:
                reason = type(exc).__name__
                continue
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            if status >= 500:
                if isinstance(data, dict) and data.get("code") == "disabled":
                    raise CaseStoreUnavailable(str(data.get("error") or "外部工单系统的接口未启用"))
                reason = f"HTTP {status}"
                continue
            return status, data
        log.warning("case store (http %s): %s %s failed after %d attempts: %s", self.base_url, method,
                    path.split("?")[0], self.retries + 1, reason)
        raise CaseStoreUnavailable(f"外部工单系统暂时无法访问（{reason}）")

    @staticmethod
    def _raise_for(status: int, data: Any) -> None:
        """Map a 4xx answer to the domain error the SQL store would have raised."""
        body = data if isinstance(data, dict) else {}
        code, message = body.get("code"), str(body.get("error") or f"HTTP {status}")
        if code == "invalid_transition":
            raise InvalidTransition(message)
        if code == "invalid_rating":
            raise InvalidRating(message)
        if code == "not_found" or status == 404:
            raise TicketNotFound(message)
        if status in (401, 403):
            log.error("case store (http): the case system refused our token (HTTP %d)", status)
            raise CaseStoreUnavailable("外部工单系统拒绝访问（令牌无效）")
        if status in (400, 422):
            raise ValueError(message)
        raise CaseStoreUnavailable(f"外部工单系统返回了意外的状态码 {status}")

    @staticmethod
    def _ticket(data: Any) -> Ticket:
        try:
            return ticket_from_json(data)
        except ValueError as exc:
            raise CaseStoreUnavailable("外部工单系统返回的数据格式不正确") from exc

    def _tickets(self, data: Any) -> list[Ticket]:
        if not isinstance(data, dict) or not isinstance(data.get("tickets"), list):
            raise CaseStoreUnavailable("外部工单系统返回的数据格式不正确")
        return [self._ticket(t) for t in data["tickets"]]

    @staticmethod
    def _path(number: str, suffix: str = "") -> str:
        return f"/api/cases/{quote(str(number).strip().upper(), safe='')}{suffix}"

    # ---------------------------------------------------------------------------------------------- CaseStore
    async def create(self, new: NewTicket) -> CreateResult:
        status, data = await self._request("POST", "/api/cases", body=new_ticket_to_json(new),
                                           idempotency_key=new.submission_key)
        if status not in (200, 201):
            self._raise_for(status, data)
        if not isinstance(data, dict) or "ticket" not in data:
            raise CaseStoreUnavailable("外部工单系统没有确认工单已保存")
        return CreateResult(self._ticket(data["ticket"]), created=bool(data.get("created")))

    async def get(self, number: str) -> Optional[Ticket]:
        status, data = await self._request("GET", self._path(number))
        if status == 404:
            return None
        if status != 200:
            self._raise_for(status, data)
        return self._ticket(data)

    async def find_by_sender(self, sender_id: str, limit: int = 5) -> list[Ticket]:
        if not sender_id:
            return []
        status, data = await self._request("GET", "/api/cases", params={"sender_id": sender_id, "limit": limit})
        if status != 200:
            self._raise_for(status, data)
        return self._tickets(data)

    async def find_by_contact(self, phone: Optional[str] = None, id_last4: Optional[str] = None,
                              query_code: Optional[str] = None, limit: int = 5) -> list[Ticket]:
        if not phone and not query_code:
            return []
        body = {"query_code": query_code, "limit": limit} if query_code else \
            {"phone": phone, "id_last4": id_last4, "limit": limit}
        # POST, not GET: a phone number in a URL would end up in proxy and access logs.
        status, data = await self._request("POST", "/api/cases/search", body=body)
        if status != 200:
            self._raise_for(status, data)
        return self._tickets(data)

    async def list_tickets(self, *, status: Optional[Status] = None, ticket_type: Optional[str] = None,
                           category: Optional[str] = None, limit: int = 20, offset: int = 0) -> TicketPage:
        params = {"status": Status(status).value if status else None, "type": ticket_type, "category": category,
                  "limit": limit, "offset": offset}
        code, data = await self._request("GET", "/api/cases", params=params)
        if code != 200:
            self._raise_for(code, data)
        tickets = self._tickets(data)
        return TicketPage(tickets, int(data.get("total", len(tickets))))

    async def _write(self, number: str, suffix: str, payload: dict[str, Any], request_key: Optional[str]) -> Ticket:
        key = request_key or uuid.uuid4().hex   # one key per logical call, reused by its retries
        status, data = await self._request("POST", self._path(number, suffix), body=payload, idempotency_key=key)
        if status != 200:
            self._raise_for(status, data)
        return self._ticket(data)

    async def update_status(self, number: str, status: Status, actor: str, note: str = "", *,
                            request_key: Optional[str] = None) -> Ticket:
        return await self._write(number, "/status", {"status": Status(status).value, "actor": actor, "note": note},
                                 request_key)

    async def add_note(self, number: str, actor: str, note: str, *, request_key: Optional[str] = None) -> Ticket:
        return await self._write(number, "/notes", {"actor": actor, "note": note}, request_key)

    async def rate(self, number: str, score: int, sender_id: Optional[str] = None, *,
                   request_key: Optional[str] = None) -> Ticket:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InvalidRating("评分应为1到5之间的整数")
        return await self._write(number, "/rating", {"score": score, "sender_id": sender_id}, request_key)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
