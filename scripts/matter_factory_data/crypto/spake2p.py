"""SPAKE2+ verifier (Matter PASE), computed in-process.

ws = PBKDF2-HMAC-SHA256(passcode as uint32 LE, salt, iterations, 80 bytes);
w0 = ws[:40] mod n, w1 = ws[40:] mod n, L = w1*G (uncompressed P-256 point);
verifier = w0 (32 bytes, big endian) || L (65 bytes) = 97 bytes.
"""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..errors import InvalidInput

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

MIN_ITERATIONS = 1000
MAX_ITERATIONS = 100000
MIN_SALT_LEN = 16
MAX_SALT_LEN = 32
MAX_PASSCODE = 99999998
VERIFIER_LEN = 97
WS_LEN = 80

INVALID_PASSCODES = frozenset(
    [0, 11111111, 22222222, 33333333, 44444444, 55555555, 66666666, 77777777, 88888888, 99999999, 12345678, 87654321]
)


def is_valid_passcode(passcode: int) -> bool:
    """The Matter ``IsValidSetupPIN`` rule."""
    return 1 <= passcode <= MAX_PASSCODE and passcode not in INVALID_PASSCODES


def check_passcode(passcode: int, field: str = "passcode") -> None:
    if not isinstance(passcode, int) or isinstance(passcode, bool):
        raise InvalidInput(field, "must be an integer")
    if not 1 <= passcode <= MAX_PASSCODE:
        raise InvalidInput(field, f"{passcode} is out of range (allowed 1..{MAX_PASSCODE})")
    if passcode in INVALID_PASSCODES:
        raise InvalidInput(field, f"{passcode:08d} is not allowed by the Matter specification (trivial passcode)")


def check_salt(salt: bytes, field: str = "spake2_salt") -> None:
    if not MIN_SALT_LEN <= len(salt) <= MAX_SALT_LEN:
        raise InvalidInput(field, f"must be {MIN_SALT_LEN}..{MAX_SALT_LEN} bytes, got {len(salt)}")


def check_iterations(iterations: int, field: str = "spake2_it") -> None:
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise InvalidInput(field, f"{iterations} is out of range (allowed {MIN_ITERATIONS}..{MAX_ITERATIONS})")


def compute_ws(passcode: int, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA256 through ``cryptography``'s OpenSSL: the same bytes as ``hashlib.pbkdf2_hmac`` (a test
    compares them) in about half the time, as ``hashlib`` on common Python builds takes a slower path per
    iteration. PBKDF2 is most of the cost of a device, so this nearly halves batch times."""
    return PBKDF2HMAC(SHA256(), WS_LEN, salt, iterations).derive(passcode.to_bytes(4, "little"))


def w0_w1(ws: bytes) -> tuple[int, int]:
    half = WS_LEN // 2
    return int.from_bytes(ws[:half], "big") % P256_ORDER, int.from_bytes(ws[half:], "big") % P256_ORDER


def p256_point(scalar: int) -> bytes:
    """scalar*G on P-256 as a 65-byte uncompressed point (0 < scalar < the group order)."""
    n = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_numbers()
    return b"\x04" + n.x.to_bytes(32, "big") + n.y.to_bytes(32, "big")


def point_from_scalar(scalar: int) -> bytes:
    """L = w1*G of a verifier; w1 = 0 (one chance in 2^256) is refused."""
    if scalar == 0:
        raise InvalidInput("spake2_verifier", "w1 is zero; choose another salt")
    return p256_point(scalar)


def generate_verifier(passcode: int, salt: bytes, iterations: int) -> bytes:
    """The 97-byte serialized verifier for (passcode, salt, iterations); inputs are checked first."""
    check_passcode(passcode)
    check_salt(salt)
    check_iterations(iterations)
    w0, w1 = w0_w1(compute_ws(passcode, salt, iterations))
    return w0.to_bytes(32, "big") + point_from_scalar(w1)


def check_verifier_format(verifier: bytes, field: str = "spake2_verifier") -> None:
    """A verifier must be 97 bytes: w0 < n, and L a valid uncompressed P-256 point."""
    if len(verifier) != VERIFIER_LEN:
        raise InvalidInput(field, f"must be {VERIFIER_LEN} bytes (w0 || L), got {len(verifier)}")
    if int.from_bytes(verifier[:32], "big") >= P256_ORDER:
        raise InvalidInput(field, "w0 is not reduced modulo the P-256 group order")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), verifier[32:])
    except ValueError:
        raise InvalidInput(field, "L is not a valid uncompressed P-256 point") from None
    if verifier[32] != 0x04:
        raise InvalidInput(field, "L must be an uncompressed point (04 || X || Y)")


def verifier_matches(verifier: bytes, passcode: int, salt: bytes, iterations: int) -> bool:
    return hmac.compare_digest(generate_verifier(passcode, salt, iterations), verifier)


def random_passcode() -> int:
    """A uniformly random valid passcode (rejection sampling, no modulo bias)."""
    while True:
        p = secrets.randbelow(MAX_PASSCODE) + 1
        if p not in INVALID_PASSCODES:
            return p
