"""Helpers for the sandbox's own tests: a tiny callback receiver and an independent AES decrypt."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

RID = re.compile(r" rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$")


def assert_error(answer: dict[str, Any], errcode: int) -> None:
    assert answer.get("errcode") == errcode, answer
    assert RID.search(answer["errmsg"]), answer["errmsg"]


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def decrypt(encoding_aes_key: str, encrypted: str) -> tuple[str, str]:
    """WeChat's message decryption, written again here so the test does not trust the sandbox's code."""
    key = base64.b64decode(encoding_aes_key + "=")
    plain = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor().update(base64.b64decode(encrypted))
    pad = plain[-1]
    assert 1 <= pad <= 32 and len(plain) % 32 == 0
    plain = plain[:-pad]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def xml_field(xml: str, name: str) -> str | None:
    match = re.search(rf"<{name}>(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))</{name}>", xml, re.S)
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: str


@dataclass
class Receiver:
    """An HTTP server that records callbacks and answers with ``status``/``reply`` after ``delay``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: str = "success"
    delay: float = 0.0
    echo: bool = True  # answer a GET handshake with its echostr

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.requests) >= count, f"{len(self.requests)} callbacks, expected {count}"
        return self.requests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _record(self, body: str) -> Receiver:
            rec = state["r"]
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            rec.requests.append(Received(self.command, parsed.path, query, body))
            if rec.delay:
                time.sleep(rec.delay)
            return rec

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            rec = self._record(self.rfile.read(length).decode())
            self._answer(rec.status, rec.reply)

        def do_GET(self) -> None:
            rec = self._record("")
            echostr = rec.requests[-1].query.get("echostr", "")
            self._answer(200, echostr if rec.echo else "nope")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/wechat/callback")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["r"]
    server.shutdown()
    server.server_close()
