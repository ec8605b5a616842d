"""Issuing certificates and exporting keys with cryptography's X.509 builder: the plain path of every
certificate this tool makes (PAA, PAI, DAC, CD signer), following ``chip-cert gen-att-cert`` conventions.
Each new certificate is checked against the Matter profile and its issuer (``attestation``) before it is
returned. Batches issue DACs through ``dac_template`` instead: the same bytes, a test proves it.
"""

from __future__ import annotations

import datetime
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ..errors import InvalidInput
from .attestation import (KINDS, OID_PRODUCT_ID, OID_VENDOR_ID, check_issued, validity)


def random_serial() -> int:
    """64 random bits with the top bit cleared (positive, at most 8 content bytes), never zero."""
    while True:
        s = secrets.randbits(63)
        if s:
            return s

def generate_p256_key():
    return ec.generate_private_key(ec.SECP256R1())

def matter_name(cn: str, vid: int | None = None, pid: int | None = None):
    if not 1 <= len(cn.encode("utf-8")) <= 64:  # X.509's bound for a common name (ub-common-name), as UTF-8
        raise InvalidInput("--cn", f"common name {cn[:70]!r} is {len(cn.encode('utf-8'))} bytes of UTF-8; "
                                   f"X.509 allows 1..64")
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if vid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(OID_VENDOR_ID), f"{vid:04X}"))
    if pid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(OID_PRODUCT_ID), f"{pid:04X}"))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attrs])

def issue_certificate(
    kind: str,
    cn: str,
    public_key,
    signer_key,
    issuer_cert=None,
    vid: int | None = None,
    pid: int | None = None,
    valid_from: datetime.datetime | None = None,
    lifetime_days: int | None = None,
    serial: int | None = None,
    paa_pathlen: int | None = 1,
    manufacturing_date: str | None = None,
    check: bool = True,
):
    """One certificate of the Matter profile ``kind`` (paa, pai, dac), signed ECDSA-SHA256."""
    if kind not in KINDS:
        raise ValueError(kind)
    if kind == "dac" and (vid is None or pid is None):
        raise InvalidInput("dac", "a DAC needs both a vendor ID and a product ID")
    if kind == "pai" and vid is None:
        raise InvalidInput("pai", "a PAI needs a vendor ID")
    if kind == "paa" and pid is not None:
        raise InvalidInput("paa", "a PAA must not carry a product ID")
    if kind != "paa" and issuer_cert is None:
        raise InvalidInput(kind, "needs the issuing CA certificate and key")
    for name, value in (("vendor ID", vid), ("product ID", pid)):
        if value is not None and not 0 <= value <= 0xFFFF:
            raise InvalidInput(kind, f"{name} {value} does not fit 16 bits")
    if valid_from is None:
        valid_from = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    not_before, not_after = validity(valid_from, lifetime_days)
    if issuer_cert is not None and lifetime_days is None:  # "no expiry" under a CA that expires: end with it
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    subject = matter_name(cn, vid, pid)
    skid = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .serial_number(serial if serial is not None else random_serial())
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(public_key)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if kind == "dac":
        bc = x509.BasicConstraints(ca=False, path_length=None)
        ku = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    else:
        bc = x509.BasicConstraints(ca=True, path_length=0 if kind == "pai" else paa_pathlen)
        ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    if issuer_cert is not None:
        aki = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    else:
        aki = skid.digest
    builder = (
        builder.add_extension(bc, critical=True)
        .add_extension(ku, critical=True)
        .add_extension(skid, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
    )
    cert = builder.sign(signer_key, hashes.SHA256())
    if issuer_cert is not None and check:  # the chain rules, before the caller writes anything
        check_issued(der(cert), kind, der(issuer_cert), "paa" if kind == "pai" else "pai", f"new {kind.upper()}",
                     manufacturing_date)
    return cert

def der(cert) -> bytes:
    return cert.public_bytes(Encoding.DER)

def pem(cert) -> bytes:
    return cert.public_bytes(Encoding.PEM)

def key_der(key, password: bytes | None = None) -> bytes:
    """SEC1 DER (as chip-cert writes keys); PKCS#8 when encrypted."""
    if password:
        return key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(password))
    return key.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())

def key_pem(key, password: bytes | None = None) -> bytes:
    if password:
        return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(password))
    return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
