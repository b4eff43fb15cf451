"""Reading JSON request bodies the same way in every API; each caller names the domain error to raise
(mapped to a 4xx with its Chinese message at that module's edge)."""
from __future__ import annotations

from typing import Any

from aiohttp import web


async def json_object(request: web.Request, error: type[Exception] = ValueError) -> dict[str, Any]:
    try:
        body = await request.json()
    except Exception:
        raise error("请求内容应为 JSON。") from None
    if not isinstance(body, dict):
        raise error("请求内容应为 JSON 对象。")
    return body


def text_field(body: dict[str, Any], key: str, limit: int, required: bool = False,
               error: type[Exception] = ValueError) -> str:
    """A stripped text value (missing or null is empty); wrong type, empty-when-required or too long → ``error``."""
    value = body.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise error(f"“{key}”应为文本。")
    value = value.strip()
    if required and not value:
        raise error(f"“{key}”不能为空。")
    if len(value) > limit:
        raise error(f"“{key}”不能超过{limit}个字。")
    return value
