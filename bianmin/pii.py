"""Masking of residents' personal data (PIPL): phone, ID number, name, address.

``mask_text`` finds phone and ID numbers anywhere in free text (log lines, child-process output);
``mask_name`` / ``mask_address`` are for values we know are a name or an address (slots, ticket fields).
"""
from __future__ import annotations

import logging
import re

# 18-digit ID (last may be X) and 15-digit legacy ID; mobiles 1[3-9]xxxxxxxxx, optionally +86 and
# separated by spaces/dashes; landlines 0xx(x)-xxxxxxx(x).
_ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8,11})([0-9Xx])(?![0-9A-Za-z])")
_MOBILE_RE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE_RE = re.compile(r"(?<!\d)(0\d{2,3})[- )]?(\d{3,4})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask every phone and ID number in ``text`` (keeps a few digits so staff can still tell cases apart)."""
    if not text:
        return text
    text = _ID_RE.sub(lambda m: f"{m.group(1)[:3]}{'*' * (len(m.group(0)) - 7)}{m.group(0)[-4:]}", text)
    text = _MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE_RE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    return text


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_id_number(id_number: str | None) -> str:
    if not id_number:
        return ""
    return f"{id_number[:3]}{'*' * (len(id_number) - 7)}{id_number[-4:]}" if len(id_number) > 7 else "*" * len(id_number)


def mask_name(name: str | None) -> str:
    """张伟 -> 张*, 欧阳娜娜 -> 欧***."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def mask_address(address: str | None) -> str:
    """Keep the leading area (up to 区/县/市/镇/街道) and hide street, number, building and room."""
    if not address:
        return ""
    m = re.match(r"^(.*?(?:区|县|市|镇|乡|街道))", address)
    head = m.group(1) if m and len(m.group(1)) < len(address) else address[:2]
    return head + "****"


class MaskingFilter(logging.Filter):
    """Rewrites each record's final message with ``mask_text`` (installed on every handler we own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the log line
            message = str(record.msg)
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True
