"""Loading keys and certificates given by the user (DER or PEM, SEC1 or PKCS#8, encrypted or not)."""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import InvalidInput, OperationFailed
from ..fileio import read_bytes
from .der import ec_private_scalar

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """(label, DER) for every PEM block in ``data``."""
    out = []
    for m in _PEM_RE.finditer(data):
        body = re.sub(rb"\s+", b"", m.group(2))
        if b":" in m.group(2):  # RFC 1421 headers (legacy encrypted PEM): leave to cryptography
            out.append((m.group(1).decode(), b""))
            continue
        try:
            out.append((m.group(1).decode(), base64.b64decode(body, validate=True)))
        except ValueError:
            out.append((m.group(1).decode(), b""))
    return out


def looks_like_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def load_certificate_der(path: str, what: str) -> bytes:
    """A certificate file's DER bytes (a PEM file is converted)."""
    data = read_bytes(path, what)
    if looks_like_pem(data):
        blocks = [der for label, der in pem_blocks(data) if label in ("CERTIFICATE", "X509 CERTIFICATE") and der]
        if not blocks:
            raise InvalidInput(what, f"'{path}' is PEM but holds no readable CERTIFICATE block")
        data = blocks[0]
    if len(data) < 2 or data[0] != 0x30:
        raise InvalidInput(what, f"'{path}' is not a DER or PEM certificate")
    return data


def load_private_key(path: str, what: str, password: str | bytes | None = None):
    """A ``cryptography`` private key from DER/PEM, SEC1/PKCS#8, optionally encrypted."""
    data = read_bytes(path, what)
    pw = password.encode("utf-8") if isinstance(password, str) else password
    # cryptography's serialization stack costs 28 ms to import: plain key files never need it (load_dac_scalar)
    from cryptography.hazmat.primitives import serialization

    loader = serialization.load_pem_private_key if looks_like_pem(data) else serialization.load_der_private_key
    try:
        return loader(data, password=pw)
    except TypeError as e:
        msg = str(e)
        if "encrypted" in msg and pw is None:
            raise InvalidInput(what, f"'{path}' is encrypted; give its password") from None
        if "not encrypted" in msg:
            raise InvalidInput(what, f"'{path}' is not encrypted, but a password was given") from None
        raise InvalidInput(what, f"cannot load '{path}': {msg}") from None
    except ValueError as e:
        if pw is not None:
            raise InvalidInput(what, f"cannot decrypt '{path}': wrong password or not a private key") from None
        raise InvalidInput(what, f"'{path}' is not a DER or PEM private key ({_first_line(e)})") from None
    except Exception as e:  # unsupported algorithms and similar
        raise OperationFailed(f"{what}: cannot load '{path}': {_first_line(e)}") from None


def check_p256(key, what: str, path: str = "") -> None:
    where = f"'{path}' " if path else ""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidInput(what, f"{where}holds a {_key_kind(key)} key; Matter needs an EC P-256 (prime256v1) key")
    if key.curve.name != "secp256r1":
        raise InvalidInput(what, f"{where}is on curve {key.curve.name}; Matter needs P-256 (prime256v1)")


def load_p256_key(path: str, what: str, password: str | bytes | None = None):
    """A P-256 private key: from a file, or a ``pkcs11:`` URI (the key stays in its token)."""
    if is_token_uri(path):
        return _hsm().open_key(path, what)
    key = load_private_key(path, what, password)
    check_p256(key, what, path)
    return key


def load_signing_ref(path: str, what: str, password: str | bytes | None = None) -> int | str:
    """What a run hands its workers to sign with: a key file's private scalar, or a ``pkcs11:`` URI (checked
    here, opened again by each worker in its own session)."""
    if is_token_uri(path):
        _hsm().open_key(path, what)
        return path
    return load_dac_scalar(path, what, password)


def signer(ref: int | str):
    """The signing key of a ``load_signing_ref`` result, in this process."""
    if isinstance(ref, str):
        return _hsm().open_key(ref)
    return ec.derive_private_key(ref, ec.SECP256R1())


def is_token_uri(path) -> bool:
    return isinstance(path, str) and path[:7].lower() == "pkcs11:"


def display(path: str) -> str:
    """A key option's value as messages may show it: a URI without its PIN."""
    return _hsm().display(path) if is_token_uri(path) else path


def _hsm():
    from . import hsm  # the PKCS#11 side: only a pkcs11: URI loads it

    return hsm


def raw_private_scalar(key) -> bytes:
    """The 32-byte big-endian private scalar of a P-256 key."""
    return key.private_numbers().private_value.to_bytes(32, "big")


def _key_kind(key) -> str:
    name = type(key).__name__
    for kind in ("RSA", "DSA", "Ed25519", "Ed448", "X25519", "X448", "EllipticCurve"):
        if kind in name:
            return kind.replace("EllipticCurve", "EC")
    return name


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def load_dac_scalar(path: str, what: str, password: str | bytes | None = None) -> int:
    """The private scalar of a P-256 key file.

    Unencrypted SEC1/PKCS#8 keys (DER or PEM) are read directly; anything else (encrypted, other curves or
    key types) goes through ``cryptography``, which also gives the precise error.
    """
    if password is None:
        data = read_bytes(path, what)
        candidates = [data]
        if looks_like_pem(data):
            candidates = [der for label, der in pem_blocks(data) if label in ("EC PRIVATE KEY", "PRIVATE KEY") and der]
        for der in candidates:
            scalar = ec_private_scalar(der, what)
            if scalar is not None:
                return scalar
    key = load_p256_key(path, what, password)
    return key.private_numbers().private_value
