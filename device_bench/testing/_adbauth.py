"""adb's RSA authentication, device side: what makes a phone say "unauthorized".

The adb server signs the 20-byte token the device sends (AUTH TOKEN) with its private key
(`$HOME/.android/adbkey`); the device accepts the signature when one of its authorised public
keys (`adbkey.pub`, the file a phone stores in /data/misc/adb/adb_keys) verifies it. The
signature is PKCS#1 v1.5 over the token taken as a SHA-1 digest (OpenSSL `RSA_sign(NID_sha1)`).
Pure Python: RSA verification is one modular power.
"""
from __future__ import annotations

import base64
import binascii
import struct
from pathlib import Path

# DER prefix of a DigestInfo holding a SHA-1 digest (RFC 8017, section 9.2, note 1).
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
TOKEN_SIZE = 20


class AdbKeyError(ValueError):
    """A public key file that is not in adb's format."""


def parse_public_key(text: str) -> tuple[int, int]:
    """`adbkey.pub` text (base64 of Android's RSAPublicKey struct, then ` user@host`) ->
    (modulus, exponent). The struct: u32 words, u32 n0inv, n[words] and rr[words] as
    little-endian u32 words (little-endian overall), u32 exponent."""
    field = text.strip().split()[0] if text.strip() else ""
    try:
        raw = base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AdbKeyError(f"not base64: {exc}") from exc
    if len(raw) < 8:
        raise AdbKeyError("too short for an adb public key")
    words = struct.unpack_from("<I", raw)[0]
    if not 1 <= words <= 1024 or len(raw) != 4 * (3 + 2 * words):
        raise AdbKeyError(f"size {len(raw)} does not fit a {words}-word adb public key")
    modulus = int.from_bytes(raw[8:8 + 4 * words], "little")
    exponent = struct.unpack_from("<I", raw, 8 + 8 * words)[0]
    return modulus, exponent


def load_public_keys(paths) -> list[tuple[int, int]]:
    """Every key in the given files (one key a line, like adb_keys); unreadable or
    malformed lines raise AdbKeyError naming the file."""
    keys = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise AdbKeyError(f"{path}: cannot read the adb public key ({exc})") from exc
        for line in lines:
            if line.strip():
                try:
                    keys.append(parse_public_key(line))
                except AdbKeyError as exc:
                    raise AdbKeyError(f"{path}: {exc}") from exc
    return keys


def verify(keys: list[tuple[int, int]], token: bytes, signature: bytes) -> bool:
    """True when one of `keys` signed `token` (RSA PKCS#1 v1.5, SHA-1 DigestInfo)."""
    if len(token) != TOKEN_SIZE:
        return False
    for modulus, exponent in keys:
        size = (modulus.bit_length() + 7) // 8
        if len(signature) != size:
            continue
        message = pow(int.from_bytes(signature, "big"), exponent, modulus).to_bytes(size, "big")
        suffix = b"\x00" + SHA1_DIGEST_INFO + token
        expected = b"\x00\x01" + b"\xff" * (size - 2 - len(suffix)) + suffix
        if message == expected:
            return True
    return False
