"""A small DER reader for what factory data needs: X.509 attestation certificates and EC P-256 private keys.

Issuing certificates uses ``cryptography``'s builder; *reading* them on the generator's hot path uses this
module, because importing ``cryptography.x509`` costs more than the whole rest of a single-device run.
Tests compare every field read here with ``cryptography``'s parser on the Matter SDK's certificates.
"""

from __future__ import annotations

import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import InvalidInput

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_PRIME256V1 = "1.2.840.10045.3.1.7"
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_COMMON_NAME = "2.5.4.3"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_KEY_USAGE = "2.5.29.15"
OID_SKID = "2.5.29.14"
OID_AKID = "2.5.29.35"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

KEY_USAGE_BITS = ("digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement",
                  "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly")


class DERError(InvalidInput):
    pass


class Element:
    __slots__ = ("tag", "content", "raw")

    def __init__(self, tag: int, content: bytes, raw: bytes):
        self.tag = tag
        self.content = content
        self.raw = raw

    def children(self, what: str) -> list["Element"]:
        return read_all(self.content, what)


def read_one(data: bytes, pos: int, what: str) -> tuple[Element, int]:
    if pos + 2 > len(data):
        raise DERError(what, "truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError(what, "multi-byte DER tags are not supported")
    n = data[pos + 1]
    p = pos + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or p + k > len(data):
            raise DERError(what, "bad DER length")
        n = int.from_bytes(data[p : p + k], "big")
        p += k
    if p + n > len(data):
        raise DERError(what, "truncated DER")
    return Element(tag, data[p : p + n], data[pos : p + n]), p + n


class Reader:
    """A cursor over DER elements that must come in a known order, with errors that name each element."""

    def __init__(self, data: bytes, what: str):
        self.data, self.pos, self.what = data, 0, what

    def read(self, expected_tag: int, name: str) -> bytes:
        """The content of the next element, which must carry ``expected_tag``."""
        if self.pos + 2 > len(self.data):
            raise InvalidInput(self.what, f"truncated before {name}")
        tag = self.data[self.pos]
        if tag != expected_tag:
            raise InvalidInput(self.what, f"{name}: expected DER tag 0x{expected_tag:02x}, found 0x{tag:02x}")
        try:
            element, self.pos = read_one(self.data, self.pos, self.what)
        except DERError as e:
            raise InvalidInput(self.what, f"{name}: {'bad DER length' if 'length' in e.rule else 'truncated'}") from None
        return element.content

    def peek_tag(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def done(self) -> bool:
        return self.pos == len(self.data)


# ---------------------------------------------------------------- writing


def encode(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length (short or long form), content."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(body)]) + body + content


def encode_int(value: int) -> bytes:
    """A non-negative INTEGER."""
    return encode(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def encode_time(t) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280)."""
    if t.year < 2050:
        return encode(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return encode(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def read_all(data: bytes, what: str) -> list[Element]:
    out, pos = [], 0
    while pos < len(data):
        el, pos = read_one(data, pos, what)
        out.append(el)
    return out


def parse_single(data: bytes, what: str) -> Element:
    el, end = read_one(data, 0, what)
    if end != len(data):
        raise DERError(what, f"{len(data) - end} trailing bytes after the DER structure")
    return el


def oid_str(content: bytes) -> str:
    if not content:
        return ""
    first = content[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for b in content[1:]:
        value = value << 7 | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def der_int(content: bytes) -> int:
    return int.from_bytes(content, "big", signed=True)


def parse_time(el: Element, what: str) -> datetime.datetime:
    text = el.content.decode("ascii", "replace")
    try:
        if el.tag == 0x17 and len(text) == 13 and text.endswith("Z"):
            year = int(text[:2])
            year += 2000 if year < 50 else 1900
            rest = text[2:12]
        elif el.tag == 0x18 and len(text) == 15 and text.endswith("Z"):
            year = int(text[:4])
            rest = text[4:14]
        else:
            raise ValueError(text)
        return datetime.datetime(year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]), int(rest[8:10]),
                                 tzinfo=datetime.timezone.utc)
    except ValueError:
        raise DERError(what, f"bad validity time {text!r}") from None


class Name:
    """A distinguished name: its DER and its attributes as (OID, value text, number in its RDN)."""

    def __init__(self, el: Element, what: str):
        self.raw = el.raw
        self.attributes: list[tuple[str, str, int]] = []
        for rdn in el.children(what):
            avas = rdn.children(what)
            for ava in avas:
                parts = ava.children(what)
                if len(parts) != 2 or parts[0].tag != 0x06:
                    raise DERError(what, "malformed name attribute")
                self.attributes.append((oid_str(parts[0].content), parts[1].content.decode("utf-8", "replace"), len(avas)))

    def get(self, oid: str) -> list[str]:
        return [v for o, v, _ in self.attributes if o == oid]

    def __eq__(self, other) -> bool:
        return isinstance(other, Name) and self.raw == other.raw


class Certificate:
    """The fields of an X.509 certificate that attestation checks need."""

    def __init__(self, der: bytes, what: str = "certificate"):
        self.der = der
        self.what = what
        top = parse_single(der, what)
        if top.tag != 0x30:
            raise DERError(what, "is not a DER certificate (no SEQUENCE)")
        parts = top.children(what)
        if len(parts) != 3 or parts[0].tag != 0x30 or parts[1].tag != 0x30 or parts[2].tag != 0x03:
            raise DERError(what, "is not an X.509 certificate")
        self.tbs = parts[0].raw
        self.signature_algorithm = oid_str(parts[1].children(what)[0].content)
        self.signature_algorithm_has_params = len(parts[1].children(what)) > 1
        bits = parts[2].content
        if not bits or bits[0] != 0:
            raise DERError(what, "signature BIT STRING has unused bits")
        self.signature = bits[1:]
        fields = parts[0].children(what)
        i = 0
        self.version = 1
        if fields and fields[0].tag == 0xA0:
            self.version = der_int(fields[0].children(what)[0].content) + 1
            i = 1
        try:
            serial, sig_alg, issuer, validity, subject, spki = fields[i : i + 6]
        except ValueError:
            raise DERError(what, "TBSCertificate has too few fields") from None
        self.serial = der_int(serial.content)
        self.tbs_signature_algorithm = oid_str(sig_alg.children(what)[0].content)
        self.issuer = Name(issuer, what)
        self.subject = Name(subject, what)
        nb, na = validity.children(what)
        self.not_before = parse_time(nb, what)
        self.not_after = parse_time(na, what)
        alg, key = spki.children(what)
        alg_parts = alg.children(what)
        self.key_algorithm = oid_str(alg_parts[0].content)
        self.key_curve = oid_str(alg_parts[1].content) if len(alg_parts) > 1 and alg_parts[1].tag == 0x06 else ""
        self.public_key_bytes = key.content[1:] if key.content else b""
        self.extensions: list[tuple[str, bool, bytes]] = []
        for el in fields[i + 6 :]:
            if el.tag == 0xA3:
                for ext in el.children(what)[0].children(what):
                    ep = ext.children(what)
                    critical = len(ep) == 3 and ep[1].tag == 0x01 and ep[1].content != b"\x00"
                    self.extensions.append((oid_str(ep[0].content), critical, ep[-1].content))

    # ------------------------------------------------------------ extensions

    def extension(self, oid: str) -> tuple[bool, bytes] | None:
        for o, critical, value in self.extensions:
            if o == oid:
                return critical, value
        return None

    def basic_constraints(self) -> tuple[bool, int | None] | None:
        ext = self.extension(OID_BASIC_CONSTRAINTS)
        if ext is None:
            return None
        ca, path_len = False, None
        for el in parse_single(ext[1], self.what).children(self.what):
            if el.tag == 0x01:
                ca = el.content != b"\x00"
            elif el.tag == 0x02:
                path_len = der_int(el.content)
        return ca, path_len

    def key_usage(self) -> set[str] | None:
        ext = self.extension(OID_KEY_USAGE)
        if ext is None:
            return None
        el = parse_single(ext[1], self.what)
        if el.tag != 0x03 or not el.content:
            raise DERError(self.what, "malformed keyUsage")
        bits = int.from_bytes(el.content[1:], "big") if len(el.content) > 1 else 0
        width = 8 * (len(el.content) - 1)
        return {name for i, name in enumerate(KEY_USAGE_BITS) if i < width and bits >> (width - 1 - i) & 1}

    @property
    def skid(self) -> bytes | None:
        ext = self.extension(OID_SKID)
        return parse_single(ext[1], self.what).content if ext else None

    @property
    def akid(self) -> bytes | None:
        ext = self.extension(OID_AKID)
        if ext is None:
            return None
        for el in parse_single(ext[1], self.what).children(self.what):
            if el.tag == 0x80:
                return el.content
        return None

    # ------------------------------------------------------------ keys and signatures

    def public_key(self):
        if self.key_algorithm != OID_EC_PUBLIC_KEY or self.key_curve != OID_PRIME256V1:
            raise DERError(self.what, "public key is not EC P-256")
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public_key_bytes)
        except ValueError:
            raise DERError(self.what, "public key is not a valid P-256 point") from None

    def is_signed_by(self, issuer: "Certificate") -> bool:
        if self.signature_algorithm != OID_ECDSA_SHA256:
            return False
        try:
            issuer.public_key().verify(self.signature, self.tbs, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, DERError, ValueError):
            return False
        return True


# ---------------------------------------------------------------- EC private keys


def ec_private_scalar(der: bytes, what: str) -> int | None:
    """The private scalar of an unencrypted SEC1 or PKCS#8 P-256 key; None when the DER is another kind."""
    try:
        top = parse_single(der, what)
        if top.tag != 0x30:
            return None
        parts = top.children(what)
        if len(parts) >= 3 and parts[0].tag == 0x02 and parts[1].tag == 0x30 and parts[2].tag == 0x04:
            # PKCS#8 PrivateKeyInfo
            alg = parts[1].children(what)
            if oid_str(alg[0].content) != OID_EC_PUBLIC_KEY:
                return None
            if len(alg) < 2 or alg[1].tag != 0x06 or oid_str(alg[1].content) != OID_PRIME256V1:
                return None
            inner = parse_single(parts[2].content, what)
            return _sec1_scalar(inner.children(what), what, require_curve=False)
        if len(parts) >= 2 and parts[0].tag == 0x02 and parts[0].content == b"\x01" and parts[1].tag == 0x04:
            return _sec1_scalar(parts, what, require_curve=True)
    except DERError:
        return None
    return None


def _sec1_scalar(parts: list[Element], what: str, require_curve: bool) -> int | None:
    if len(parts) < 2 or parts[1].tag != 0x04:
        return None
    curve = None
    for el in parts[2:]:
        if el.tag == 0xA0:
            curve = oid_str(el.children(what)[0].content)
    if curve is not None and curve != OID_PRIME256V1:
        return None
    if curve is None and require_curve:
        return None
    if len(parts[1].content) != 32:
        return None
    d = int.from_bytes(parts[1].content, "big")
    if not 0 < d < P256_ORDER:
        return None
    return d
