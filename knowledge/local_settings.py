"""Local details (addresses, phone numbers, opening hours, URLs) for FAQ answers.

Answers say ``{legal_aid_centre.phone}``; the value comes from ``knowledge/local_settings.yml`` (or the file
named by env ``BIANMIN_LOCAL_SETTINGS``) at answer time, so a deployment changes its details in one file
and never edits the knowledge itself. Nested keys are joined with dots. The file is re-read when it changes
(one ``stat`` per render). A placeholder without a value is replaced by a neutral sentence and logged,
never shown to residents as ``{...}``.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Mapping

import yaml

log = logging.getLogger(__name__)

ENV_VAR = "BIANMIN_LOCAL_SETTINGS"
DEFAULT_PATH = Path(__file__).resolve().with_name("local_settings.yml")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
MISSING_TEXT = "（该信息暂未配置，请拨打12345政务服务便民热线咨询）"


class LocalSettingsError(ValueError):
    """The settings file is not a YAML mapping."""


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif value is not None:
            out[name] = str(value)
    return out


def placeholders(text: str) -> list[str]:
    """Placeholder names in ``text``, in order, without duplicates."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


class LocalSettings:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)
        self._values: dict[str, str] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def values(self) -> dict[str, str]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            if self._mtime is not None or not self._warned:
                log.warning("local settings file %s not found: placeholders stay unfilled", self.path)
                self._warned.add("__file__")
            self._values, self._mtime = {}, None
            return self._values
        if mtime != self._mtime:
            with self._lock:
                data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
                if not isinstance(data, Mapping):
                    raise LocalSettingsError(f"{self.path}: 本地设置文件应是一个映射（mapping）")
                self._values, self._mtime = flatten(data), mtime
        return self._values

    def missing(self, text: str) -> list[str]:
        """Placeholders in ``text`` that have no value."""
        values = self.values()
        return [name for name in placeholders(text) if name not in values]

    def render(self, text: str) -> str:
        values = self.values()

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            if name not in self._warned:
                self._warned.add(name)
                log.warning("FAQ placeholder {%s} has no value in %s", name, self.path)
            return MISSING_TEXT

        return PLACEHOLDER.sub(substitute, text or "")


_default: LocalSettings | None = None


def default_settings() -> LocalSettings:
    """The process-wide settings (path from env at first use)."""
    global _default
    if _default is None or _default.path != Path(os.environ.get(ENV_VAR) or DEFAULT_PATH):
        _default = LocalSettings()
    return _default


def render(text: str) -> str:
    return default_settings().render(text)
