"""Reading what WeChat pushes to the callback URL: signatures, safe-mode AES, and the XML itself.

- Signatures are SHA-1 over the sorted token/timestamp/nonce (plus the ``Encrypt`` text in safe mode),
  compared in constant time.
- Safe mode: AES-256-CBC with the key from the 43-character EncodingAESKey, IV = key[:16], PKCS#7 padding
  to 32-byte blocks; the plaintext is 16 random bytes, a 4-byte length, the XML and the AppID, which must
  be ours.
- XML is parsed by defusedxml: no DTDs, no entities, no external references.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree as SafeXML
from defusedxml.common import DefusedXmlException

MAX_BODY_BYTES = 64 * 1024  # WeChat's pushes are a few KB; anything larger is not from WeChat


class CallbackRejected(Exception):
    """A push that must change nothing: bad signature, wrong AppID, malformed or dangerous XML."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def signature(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def check_signature(token: str, given: str | None, *parts: str) -> None:
    if not given or not hmac.compare_digest(signature(token, *parts), given.lower()):
        raise CallbackRejected("signature does not match", status=403)


def check_fresh(timestamp: str, max_age: float, now: float | None = None) -> int:
    """A signature is good only near the time it was made: a ``timestamp`` outside ``max_age`` seconds of now
    (either way) is refused, so a signed URL seen in a log cannot be replayed later. Returns it as a number."""
    now = time.time() if now is None else now
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRejected("timestamp is missing or not a number", status=403)
    if abs(now - int(timestamp)) > max_age:
        raise CallbackRejected(
            f"timestamp is more than {max_age:g} s away from now (replayed or clock wrong)", status=403
        )
    return int(timestamp)


@dataclass(frozen=True)
class AesKey:
    key: bytes

    @classmethod
    def from_encoding_aes_key(cls, encoding_aes_key: str) -> AesKey:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError as exc:
            raise ValueError("EncodingAESKey is not 43 base64 characters") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes (43 characters)")
        return cls(key)

    def decrypt(self, encrypted: str, appid: str) -> bytes:
        try:
            data = base64.b64decode(encrypted, validate=True)
            decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
        except ValueError as exc:
            raise CallbackRejected(f"cannot decrypt: {exc}") from exc
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackRejected("cannot decrypt: bad padding (wrong EncodingAESKey?)")
        plain = plain[:-pad]
        (length,) = struct.unpack(">I", plain[16:20])
        xml, sender = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(sender, appid.encode()):
            raise CallbackRejected("message is for another AppID", status=403)
        return xml


@dataclass(frozen=True)
class Push:
    """One message or event from WeChat, its fields as strings, and the signed URL's timestamp and nonce
    (a nonce is used once: another body with the same signature is a replay)."""

    fields: dict[str, str] = field(default_factory=dict)
    signed_at: int | None = None
    nonce: str | None = None

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)

    @property
    def msg_type(self) -> str:
        return self.get("MsgType").lower()

    @property
    def event(self) -> str:
        return self.get("Event")

    @property
    def openid(self) -> str:
        return self.get("FromUserName")

    @property
    def created_at(self) -> int:
        return int(self.get("CreateTime") or 0)

    @property
    def msg_id(self) -> str:
        """A message's MsgId, or the MsgID of the send a job-finish report is about."""
        return self.get("MsgId") or self.get("MsgID")

    @property
    def dedupe_key(self) -> str:
        """WeChat retries a push up to three times: messages repeat their MsgId, events their sender+time
        (and a job-finish report its MsgID: one fan may get two templates in the same second)."""
        if self.get("MsgId"):
            return f"msg:{self.get('MsgId')}"
        report = f":{self.get('MsgID')}" if self.get("MsgID") else ""
        return f"event:{self.openid}:{self.created_at}:{self.event}{report}"


def parse_xml(body: bytes) -> Push:
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRejected("body too large", status=413)
    try:
        root = SafeXML.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeXML.ParseError) as exc:
        raise CallbackRejected(f"malformed or unsafe XML: {exc.__class__.__name__}") from exc
    if root.tag != "xml":
        raise CallbackRejected("not a WeChat push (root element is not <xml>)")
    return Push({child.tag: (child.text or "").strip() for child in root if len(child) == 0} | _nested(root))


def _nested(root) -> dict[str, str]:
    """Flatten the few nested blocks pushes carry (ScanCodeInfo, ...) as Parent.Child."""
    flat = {}
    for child in root:
        for grandchild in child:
            if len(grandchild) == 0:
                flat[f"{child.tag}.{grandchild.tag}"] = (grandchild.text or "").strip()
    return flat


DEFAULT_MAX_AGE = 300.0  # seconds a signature stays good: WeChat's three tries fit well inside


@dataclass(frozen=True)
class CallbackConfig:
    appid: str
    token: str
    aes: AesKey | None = None
    accept_plaintext: bool = True  # False in safe mode: an unencrypted push is a forgery or a downgrade
    max_age: float = DEFAULT_MAX_AGE


def check_url(config: CallbackConfig, query: dict[str, str]) -> None:
    """What can be checked before the body is read: the URL's signature and its age."""
    check_signature(config.token, query.get("signature"), query.get("timestamp", ""), query.get("nonce", ""))
    check_fresh(query.get("timestamp", ""), config.max_age)


def open_push(config: CallbackConfig, query: dict[str, str], body: bytes) -> Push:
    """Verify and decode a POSTed push in plaintext, compatible or safe mode."""
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    check_url(config, query)
    signed_at, nonce = int(timestamp), nonce[:64]
    outer = parse_xml(body)
    if query.get("encrypt_type", "raw") == "aes":
        if config.aes is None:
            raise CallbackRejected("encrypted push, but the connection has no EncodingAESKey", status=403)
        encrypted = outer.get("Encrypt")
        check_signature(config.token, query.get("msg_signature"), timestamp, nonce, encrypted)
        return Push(parse_xml(config.aes.decrypt(encrypted, config.appid)).fields, signed_at, nonce)
    if not config.accept_plaintext:
        raise CallbackRejected("this account's pushes are encrypted (safe mode): a plaintext push is refused", 403)
    return Push(outer.fields, signed_at, nonce)
