"""Keys for personal data at rest: AES-256-GCM for sealed values, HMAC-SHA256 for blind indexes.

Where the keys come from (see README "Personal data at rest"):

* ``BIANMIN_DATA_KEY`` — ``<key id>:<base64 of 32 bytes>[,<key id>:<base64>…]``. The FIRST key seals new data;
  the others only open old data (rotation). ``BIANMIN_INDEX_KEY`` — base64 of 32 bytes, the blind-index key;
  required whenever ``BIANMIN_DATA_KEY`` is set (a separate key, so the index never reveals the data key).
* otherwise ``var/data_keys.json`` (mode 0600), created on first use with one random data key and a random
  index key. ``bianmin db rotate-key`` adds a new active key to it; the old keys stay (open only) until
  ``bianmin db retire-keys`` finds no value sealed under them.

A sealed value is the text ``v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>``; the caller's ``aad``
(e.g. the ticket number) is authenticated, so a sealed value copied onto another row does not open.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE_NAME = "data_keys.json"
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SEALED_RE = re.compile(r"^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+={0,2})$")
_NONCE = 12


class DataKeyError(Exception):
    """Keys are missing, malformed, or a sealed value cannot be opened (wrong key, tampered, unknown key id)."""


def _b64key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError) as exc:
        raise DataKeyError(f"{what}: not base64") from exc
    if len(raw) != 32:
        raise DataKeyError(f"{what}: must be 32 bytes (got {len(raw)})")
    return raw


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def parse_data_key_env(text: str) -> tuple[str, dict[str, bytes]]:
    """``k2:BASE64,k1:BASE64`` → ("k2", {"k2": …, "k1": …}); the first entry is the active key."""
    keys: dict[str, bytes] = {}
    active = ""
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kid, sep, value = part.partition(":")
        if not sep or not KEY_ID_RE.match(kid):
            raise DataKeyError("BIANMIN_DATA_KEY: each entry is <key id>:<base64 of 32 bytes>")
        if kid in keys:
            raise DataKeyError(f"BIANMIN_DATA_KEY: key id {kid} appears twice")
        keys[kid] = _b64key(value, f"BIANMIN_DATA_KEY[{kid}]")
        active = active or kid
    if not keys:
        raise DataKeyError("BIANMIN_DATA_KEY is empty")
    return active, keys


@dataclass
class DataKeys:
    """A key ring: the active sealing key, older opening keys, and the blind-index key.

    Loaded from a key file, it re-reads the file when it changes (another process rotated the key), so
    long-running processes pick up a new active key and can open values sealed under it."""

    active: str
    keys: dict[str, bytes]
    index_key: bytes
    path: Optional[Path] = None
    _stamp: tuple[int, int] = (0, 0)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ----------------------------------------------------------------------------------------- loading
    @classmethod
    def from_env(cls, var: Path, env: Optional[Mapping[str, str]] = None) -> "DataKeys":
        e = os.environ if env is None else env
        data = (e.get("BIANMIN_DATA_KEY") or "").strip()
        index = (e.get("BIANMIN_INDEX_KEY") or "").strip()
        if data:
            if not index:
                raise DataKeyError("BIANMIN_INDEX_KEY is required when BIANMIN_DATA_KEY is set")
            active, keys = parse_data_key_env(data)
            return cls(active=active, keys=keys, index_key=_b64key(index, "BIANMIN_INDEX_KEY"))
        if index:
            raise DataKeyError("BIANMIN_INDEX_KEY is set but BIANMIN_DATA_KEY is not")
        return cls.from_file(Path(var) / KEY_FILE_NAME, create=True)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> "DataKeys":
        if not path.exists():
            if not create:
                raise DataKeyError(f"no key file at {path}")
            _create_key_file(path)
        ring = cls(active="", keys={}, index_key=b"", path=path)
        ring._reload()
        return ring

    def _reload(self) -> None:
        assert self.path is not None
        st = self.path.stat()
        stamp = (st.st_mtime_ns, st.st_ino)
        try:
            doc = json.loads(self.path.read_text())
            keys = {kid: _b64key(v, f"{self.path.name}[{kid}]") for kid, v in doc["keys"].items()}
            active = doc["active"]
            index_key = _b64key(doc["index_key"], f"{self.path.name}[index_key]")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataKeyError(f"unreadable key file {self.path}") from exc
        if active not in keys or not all(KEY_ID_RE.match(k) for k in keys):
            raise DataKeyError(f"key file {self.path}: the active key is missing or a key id is malformed")
        self.active, self.keys, self.index_key, self._stamp = active, keys, index_key, stamp

    def refresh(self) -> None:
        if self.path is None:
            return
        with self._lock:
            try:
                st = self.path.stat()
                if (st.st_mtime_ns, st.st_ino) != self._stamp:
                    self._reload()
            except FileNotFoundError as exc:
                raise DataKeyError(f"key file {self.path} disappeared") from exc

    @property
    def from_key_file(self) -> bool:
        return self.path is not None

    # ----------------------------------------------------------------------------------------- sealing
    def seal(self, plaintext: bytes, aad: bytes) -> str:
        self.refresh()
        nonce = os.urandom(_NONCE)
        ct = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, aad)
        return f"v1.{self.active}.{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def open(self, sealed: str, aad: bytes) -> bytes:
        kid = key_id_of(sealed)
        if kid is None:
            raise DataKeyError("not a sealed value")
        if kid not in self.keys:
            self.refresh()
            if kid not in self.keys:
                raise DataKeyError(f"unknown key id {kid}")
        blob = base64.urlsafe_b64decode(sealed.split(".", 2)[2])
        try:
            return AESGCM(self.keys[kid]).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except (InvalidTag, ValueError) as exc:
            raise DataKeyError("sealed value does not open (tampered, or sealed for another row)") from exc

    def seal_text(self, text: str, aad: str) -> str:
        return self.seal(text.encode("utf-8"), aad.encode("utf-8"))

    def open_text(self, sealed: str, aad: str) -> str:
        return self.open(sealed, aad.encode("utf-8")).decode("utf-8")

    # ----------------------------------------------------------------------------------------- blind index
    def blind_index(self, purpose: str, value: str, *, length: int = 18) -> str:
        """``h1`` + the first ``length`` hex digits of HMAC-SHA256(index key, purpose ‖ 0x1f ‖ value)."""
        mac = hmac.new(self.index_key, f"{purpose}\x1f{value}".encode("utf-8"), hashlib.sha256).hexdigest()
        return "h1" + mac[:length]


def key_id_of(value: object) -> Optional[str]:
    """The key id a sealed value was made with, or None if ``value`` is not a sealed value."""
    if not isinstance(value, str):
        return None
    m = SEALED_RE.match(value)
    return m.group(1) if m else None


def is_sealed(value: object) -> bool:
    return key_id_of(value) is not None


def _write_key_file(path: Path, doc: dict, *, exclusive: bool) -> None:
    """Write atomically with mode 0600: a temp file in the same directory, then link (new) or rename (replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)       # fails if another process created it first: theirs wins
            except FileExistsError:
                pass
        else:
            os.replace(tmp, path)
            tmp = None  # type: ignore[assignment]
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _create_key_file(path: Path) -> None:
    _write_key_file(path, {"active": "k1", "keys": {"k1": encode_key(new_key())},
                           "index_key": encode_key(new_key())}, exclusive=True)


def add_active_key(ring: DataKeys) -> str:
    """Key file only: add a fresh key, make it the active one, keep the old ones for opening. Returns its id."""
    if ring.path is None:
        raise DataKeyError("keys come from BIANMIN_DATA_KEY: put a new key first in it instead")
    ring.refresh()
    n = 1 + max((int(k[1:]) for k in ring.keys if re.fullmatch(r"k\d+", k)), default=0)
    kid = f"k{n}"
    keys = {k: encode_key(v) for k, v in ring.keys.items()}
    keys[kid] = encode_key(new_key())
    _write_key_file(ring.path, {"active": kid, "keys": keys, "index_key": encode_key(ring.index_key)},
                    exclusive=False)
    ring._reload()
    return kid


def drop_keys(ring: DataKeys, kids: set[str]) -> None:
    """Key file only: forget keys no value is sealed under any more (never the active key)."""
    if ring.path is None:
        raise DataKeyError("keys come from BIANMIN_DATA_KEY: remove old keys from it instead")
    ring.refresh()
    if ring.active in kids:
        raise DataKeyError("the active key cannot be retired")
    keys = {k: encode_key(v) for k, v in ring.keys.items() if k not in kids}
    _write_key_file(ring.path, {"active": ring.active, "keys": keys, "index_key": encode_key(ring.index_key)},
                    exclusive=False)
    ring._reload()
