"""Fast DAC issuing for batches: a DER template per PAI filled with each device's serial number and public
key, signed ECDSA-SHA256. It writes the same bytes as ``issuing.issue_certificate`` (a test compares them)
at a fraction of the cost, and needs none of cryptography's X.509 machinery. Also the SEC1 and PKCS#8 DER
of a key from its scalar, as OpenSSL writes them.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import InvalidInput
from . import der
from .attestation import load_cert, public_point


_OID_CN = bytes.fromhex("0603550403")

_OID_VID = bytes.fromhex("060a2b0601040182a27c0201")

_OID_PID = bytes.fromhex("060a2b0601040182a27c0202")

_ALG_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")

_SPKI_ALG = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")

_SPKI_HEAD = bytes.fromhex("3059" "301306072a8648ce3d020106082a8648ce3d030107" "034200")

_SKID_HEAD = bytes.fromhex("301d0603551d0e041604") + b"\x14"

_EXT_BC_KU = bytes.fromhex("300c0603551d130101ff04023000" "300e0603551d0f0101ff040403020780")

class DacTemplate:
    """Issues Matter DACs under one PAI by filling a DER template: the same bytes ``issue_certificate``
    writes with ``cryptography``'s builder (a test compares them), at a fraction of the cost per device.
    Signatures are ECDSA-SHA256, RFC 6979 deterministic when asked."""

    def __init__(self, pai_der: bytes, pai_key, vid: int, pid: int, cn: str,
                 not_before: datetime.datetime, not_after: datetime.datetime):
        pai = load_cert(pai_der, "PAI")
        if pai.skid is None:
            raise InvalidInput("PAI", "has no subjectKeyIdentifier (a DAC's authorityKeyIdentifier needs it)")
        self.pai_key = pai_key
        self._issuer = pai.subject.raw
        self._validity = der.encode(0x30, der.encode_time(not_before) + der.encode_time(not_after))
        self._ids = b"".join(der.encode(0x31, der.encode(0x30, oid + der.encode(0x0C, value.encode("utf-8"))))
                             for oid, value in ((_OID_VID, f"{vid:04X}"), (_OID_PID, f"{pid:04X}")))
        self._subject = self._subject_with(cn)
        self._akid = der.encode(0x30, bytes.fromhex("0603551d23") + der.encode(0x04, der.encode(0x30, der.encode(0x80, pai.skid))))
        # everything after the serial number up to the public point, and from there to the key identifier:
        # the same for every certificate with this template's common name (a P-256 point is 65 bytes)
        self._after_serial = _ALG_ECDSA_SHA256 + self._issuer + self._validity + self._subject + _SPKI_HEAD
        self._exts_head = der.encode(0xA3, der.encode(0x30, _EXT_BC_KU + _SKID_HEAD + bytes(20) + self._akid))[:-20 - len(self._akid)]
        self._ecdsa: dict = {}

    def _subject_with(self, cn: str) -> bytes:
        return der.encode(0x30, der.encode(0x31, der.encode(0x30, _OID_CN + der.encode(0x0C, cn.encode("utf-8")))) + self._ids)

    def tbs(self, serial: int, public_point: bytes, cn: str | None = None) -> bytes:
        """The TBSCertificate; ``cn`` replaces the template's common name for this one certificate."""
        if cn is None and len(public_point) == 65:
            return der.encode(0x30, b"\xa0\x03\x02\x01\x02" + der.encode_int(serial) + self._after_serial + public_point
                        + self._exts_head + hashlib.sha1(public_point).digest() + self._akid)
        spki = der.encode(0x30, _SPKI_ALG + der.encode(0x03, b"\x00" + public_point))
        skid = der.encode(0x30, bytes.fromhex("0603551d0e") + der.encode(0x04, der.encode(0x04, hashlib.sha1(public_point).digest())))
        exts = der.encode(0xA3, der.encode(0x30, _EXT_BC_KU + skid + self._akid))
        return der.encode(0x30, bytes.fromhex("a003020102") + der.encode_int(serial) + _ALG_ECDSA_SHA256 + self._issuer
                    + self._validity + (self._subject if cn is None else self._subject_with(cn)) + spki + exts)

    def issue(self, serial: int, public_point: bytes, deterministic: bool = False, cn: str | None = None) -> bytes:
        algorithm = self._ecdsa.get(deterministic)
        if algorithm is None:
            algorithm = self._ecdsa[deterministic] = ec.ECDSA(hashes.SHA256(), deterministic_signing=deterministic)
        tbs = self.tbs(serial, public_point, cn)
        sig = self.pai_key.sign(tbs, algorithm)
        return der.encode(0x30, tbs + _ALG_ECDSA_SHA256 + der.encode(0x03, b"\x00" + sig))

def pkcs8_der_from_scalar(scalar: int, point: bytes | None = None) -> bytes:
    """Unencrypted PKCS#8 DER of a P-256 key as OpenSSL writes it (the inner ECPrivateKey without parameters,
    with the public key), without building a key object."""
    if point is None:
        point = public_point(scalar)
    return (bytes.fromhex("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420")
            + scalar.to_bytes(32, "big") + bytes.fromhex("a144034200") + point)

def key_der_from_scalar(scalar: int, point: bytes | None = None) -> bytes:
    """SEC1 ECPrivateKey DER of a P-256 key (what ``key_der`` writes), without building a key object."""
    if point is None:
        point = public_point(scalar)
    return (bytes.fromhex("307702010104") + bytes([32]) + scalar.to_bytes(32, "big")
            + bytes.fromhex("a00a06082a8648ce3d030107a144034200") + point)
