"""Callback signatures and the AES message encryption of WeChat's compat/safe modes.

signature     = sha1(sorted([token, timestamp, nonce]) joined), hex
msg_signature = sha1(sorted([token, timestamp, nonce, encrypt]) joined), hex
Encrypt       = base64(AES-256-CBC(key, iv=key[:16], pkcs7_32(random16 + len(xml) as 4 bytes BE + xml + appid)))
with key = base64decode(EncodingAESKey + "=").
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat pads to 32-byte blocks, not AES's 16


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def encrypt(encoding_aes_key: str, appid: str, xml: str) -> str:
    key = aes_key(encoding_aes_key)
    body = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + appid.encode()
    pad = BLOCK - len(plain) % BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt(encoding_aes_key: str, encrypted: str) -> tuple[str, str]:
    """(xml, appid) — for the sandbox's own tests and tools."""
    key = aes_key(encoding_aes_key)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()
