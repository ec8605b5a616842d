"""Certification Declaration: Matter TLV content in a CMS SignedData envelope (as the SDK's ``CMS_Sign``)."""

from __future__ import annotations

from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..codes import tlv
from ..errors import InvalidInput
from . import der
from .attestation import matter_ids, skid_of

OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
OID_DATA = bytes.fromhex("2a864886f70d010701")
OID_SHA256 = bytes.fromhex("608648016503040201")
OID_ECDSA_SHA256 = bytes.fromhex("2a8648ce3d040302")
CERTIFICATE_ID_LEN = 19
MAX_PRODUCT_IDS = 100
MAX_AUTHORIZED_PAAS = 10


class CDContent(NamedTuple):
    """The content of a Certification Declaration (Matter TLV inside the CMS envelope)."""

    vendor_id: int
    product_ids: list
    device_type_id: int
    certificate_id: str
    security_level: int = 0
    security_information: int = 0
    version_number: int = 0
    certification_type: int = 0
    format_version: int = 1
    dac_origin_vendor_id: int | None = None
    dac_origin_product_id: int | None = None
    authorized_paa_list: tuple | list = ()

    def validate(self) -> None:
        def rng(name, v, hi):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= hi:
                raise InvalidInput(f"CD {name}", f"{v!r} is out of range (0..{hi})")

        rng("format_version", self.format_version, 0xFFFF)
        if self.format_version != 1:
            raise InvalidInput("CD format_version", f"must be 1, got {self.format_version}")
        rng("vendor_id", self.vendor_id, 0xFFFF)
        if self.vendor_id == 0:
            raise InvalidInput("CD vendor_id", "must not be 0")
        if not 1 <= len(self.product_ids) <= MAX_PRODUCT_IDS:
            raise InvalidInput("CD product_id_array", f"needs 1..{MAX_PRODUCT_IDS} product IDs, got {len(self.product_ids)}")
        for pid in self.product_ids:
            rng("product_id", pid, 0xFFFF)
            if pid == 0:
                raise InvalidInput("CD product_id", "must not be 0")
        rng("device_type_id", self.device_type_id, 0xFFFFFFFF)
        if not isinstance(self.certificate_id, str) or len(self.certificate_id.encode()) != CERTIFICATE_ID_LEN:
            raise InvalidInput("CD certificate_id", f"must be exactly {CERTIFICATE_ID_LEN} characters, got {self.certificate_id!r}")
        rng("security_level", self.security_level, 0xFF)
        rng("security_information", self.security_information, 0xFFFF)
        rng("version_number", self.version_number, 0xFFFF)
        rng("certification_type", self.certification_type, 0xFF)
        if self.certification_type > 2:
            raise InvalidInput("CD certification_type", f"{self.certification_type} is reserved (0 development, 1 provisional, 2 official)")
        if (self.dac_origin_vendor_id is None) != (self.dac_origin_product_id is None):
            raise InvalidInput("CD dac_origin", "dac_origin_vendor_id and dac_origin_product_id go together")
        if self.dac_origin_vendor_id is not None:
            rng("dac_origin_vendor_id", self.dac_origin_vendor_id, 0xFFFF)
            rng("dac_origin_product_id", self.dac_origin_product_id, 0xFFFF)
        if self.authorized_paa_list:
            if len(self.authorized_paa_list) > MAX_AUTHORIZED_PAAS:
                raise InvalidInput("CD authorized_paa_list", f"at most {MAX_AUTHORIZED_PAAS} entries")
            for skid in self.authorized_paa_list:
                if not isinstance(skid, bytes) or len(skid) != 20:
                    raise InvalidInput("CD authorized_paa_list", "entries must be 20-byte PAA subject key identifiers")

    def to_tlv(self) -> bytes:
        self.validate()
        s = tlv.Structure()
        s.items += [
            (0, self.format_version),
            (1, self.vendor_id),
            (2, tlv.Array([(None, p) for p in self.product_ids])),
            (3, self.device_type_id),
            (4, self.certificate_id),
            (5, self.security_level),
            (6, self.security_information),
            (7, self.version_number),
            (8, self.certification_type),
        ]
        if self.dac_origin_vendor_id is not None:
            s.items += [(9, self.dac_origin_vendor_id), (10, self.dac_origin_product_id)]
        if self.authorized_paa_list:
            s.items.append((11, tlv.Array([(None, bytes(k)) for k in self.authorized_paa_list])))
        return tlv.encode(s)

    def to_dict(self) -> dict:
        d = {
            "format_version": self.format_version,
            "vendor_id": f"0x{self.vendor_id:04X}",
            "product_ids": [f"0x{p:04X}" for p in self.product_ids],
            "device_type_id": f"0x{self.device_type_id:X}",
            "certificate_id": self.certificate_id,
            "security_level": self.security_level,
            "security_information": self.security_information,
            "version_number": f"0x{self.version_number:04X}",
            "certification_type": self.certification_type,
        }
        if self.dac_origin_vendor_id is not None:
            d["dac_origin_vendor_id"] = f"0x{self.dac_origin_vendor_id:04X}"
            d["dac_origin_product_id"] = f"0x{self.dac_origin_product_id:04X}"
        if self.authorized_paa_list:
            d["authorized_paa_list"] = [k.hex() for k in self.authorized_paa_list]
        return d


_FIELDS = (
    (0, "format_version", 0xFFFF), (1, "vendor_id", 0xFFFF), (2, "product_ids", None), (3, "device_type_id", 0xFFFFFFFF),
    (4, "certificate_id", None), (5, "security_level", 0xFF), (6, "security_information", 0xFFFF),
    (7, "version_number", 0xFFFF), (8, "certification_type", 0xFF), (9, "dac_origin_vendor_id", 0xFFFF),
    (10, "dac_origin_product_id", 0xFFFF), (11, "authorized_paa_list", None),
)


def decode_content(data: bytes) -> CDContent:
    """CD TLV to content; rejects out-of-range integers, wrong types and unexpected or misordered tags."""
    what = "CD content"
    tag, value = tlv.decode(data, what)
    if tag is not None or not isinstance(value, tlv.Structure):
        raise InvalidInput(what, "must be one anonymous TLV structure")
    items = list(value.items)
    out: dict = {}
    i = 0
    for ftag, name, hi in _FIELDS:
        if i < len(items) and items[i][0] == ftag:
            v = items[i][1]
            i += 1
        else:
            if ftag <= 8:
                found = items[i][0] if i < len(items) else "end of structure"
                raise InvalidInput(what, f"expected tag {ftag} ({name}), found {found} (unexpected TLV element)")
            continue
        if name == "product_ids":
            if not isinstance(v, tlv.Array):
                raise InvalidInput(what, "product_id_array must be an array")
            pids = v.values()
            for p in pids:
                if isinstance(p, bool) or not isinstance(p, int) or isinstance(p, tlv.Signed) or not 0 <= p <= 0xFFFF:
                    raise InvalidInput(what, f"product ID {p!r} is not a 16-bit unsigned integer")
            out[name] = list(pids)
        elif name == "authorized_paa_list":
            if not isinstance(v, tlv.Array) or not all(isinstance(k, bytes) for k in v.values()):
                raise InvalidInput(what, "authorized_paa_list must be an array of byte strings")
            out[name] = list(v.values())
        elif name == "certificate_id":
            if not isinstance(v, str):
                raise InvalidInput(what, "certificate_id must be a UTF-8 string")
            out[name] = v
        else:
            if isinstance(v, bool) or not isinstance(v, int) or isinstance(v, tlv.Signed):
                raise InvalidInput(what, f"{name} must be an unsigned integer")
            if v > hi:
                raise InvalidInput(what, f"{name} value 0x{v:X} does not fit its field (invalid integer value)")
            out[name] = v
    if i != len(items):
        raise InvalidInput(what, f"unexpected TLV element with tag {items[i][0]}")
    content = CDContent(**out)
    content.validate()
    return content


def envelope(content_tlv: bytes, signer_skid: bytes, signature_der: bytes) -> bytes:
    """The CMS SignedData ContentInfo exactly as the SDK's CMS_Sign builds it."""
    def seq(*parts: bytes) -> bytes:
        return der.encode(0x30, b"".join(parts))

    def oid(body: bytes) -> bytes:
        return der.encode(0x06, body)

    digest_alg = seq(oid(OID_SHA256))
    signer_info = seq(
        der.encode(0x02, b"\x03"),
        der.encode(0x80, signer_skid),
        digest_alg,
        seq(oid(OID_ECDSA_SHA256)),
        der.encode(0x04, signature_der),
    )
    signed_data = seq(
        der.encode(0x02, b"\x03"),
        der.encode(0x31, digest_alg),
        seq(oid(OID_DATA), der.encode(0xA0, der.encode(0x04, content_tlv))),
        der.encode(0x31, signer_info),
    )
    return seq(oid(OID_SIGNED_DATA), der.encode(0xA0, signed_data))


def sign(content: CDContent, signer_cert, signer_key) -> bytes:
    body = content.to_tlv()
    skid = skid_of(signer_cert)
    if skid is None:
        raise InvalidInput("CD signing certificate", "has no subjectKeyIdentifier (the CD names its signer by it)")
    signature = signer_key.sign(body, ec.ECDSA(hashes.SHA256()))
    return envelope(body, skid, signature)


class ParsedCD(NamedTuple):
    content_tlv: bytes
    signer_skid: bytes
    signature: bytes
    content: CDContent


def parse(data: bytes, what: str = "CD") -> ParsedCD:
    """Check the envelope rules (signedData v3, one sha256 digest, id-data, one SignerInfo v3 by SKID)."""
    top = der.Reader(data, what)
    ci = der.Reader(top.read(0x30, "ContentInfo"), what)
    if not top.done():
        raise InvalidInput(what, "trailing bytes after ContentInfo")
    if ci.read(0x06, "contentType") != OID_SIGNED_DATA:
        raise InvalidInput(what, "contentType is not id-signedData")
    sd = der.Reader(der.Reader(ci.read(0xA0, "content"), what).read(0x30, "SignedData"), what)
    if sd.read(0x02, "SignedData version") != b"\x03":
        raise InvalidInput(what, "SignedData version must be 3")
    algs = der.Reader(sd.read(0x31, "digestAlgorithms"), what)
    alg = der.Reader(algs.read(0x30, "digestAlgorithm"), what)
    if alg.read(0x06, "digest OID") != OID_SHA256 or not algs.done():
        raise InvalidInput(what, "digestAlgorithms must be exactly one sha256")
    eci = der.Reader(sd.read(0x30, "encapContentInfo"), what)
    if eci.read(0x06, "eContentType") != OID_DATA:
        raise InvalidInput(what, "eContentType is not id-data")
    content_tlv = der.Reader(eci.read(0xA0, "eContent"), what).read(0x04, "eContent OCTET STRING")
    if sd.peek_tag() in (0xA0, 0xA1):
        raise InvalidInput(what, "certificates or CRLs must not be embedded")
    infos = der.Reader(sd.read(0x31, "signerInfos"), what)
    si = der.Reader(infos.read(0x30, "SignerInfo"), what)
    if not infos.done():
        raise InvalidInput(what, "must have exactly one SignerInfo")
    if si.read(0x02, "SignerInfo version") != b"\x03":
        raise InvalidInput(what, "SignerInfo version must be 3")
    skid = si.read(0x80, "subjectKeyIdentifier")
    dalg = der.Reader(si.read(0x30, "digestAlgorithm"), what)
    if dalg.read(0x06, "digest OID") != OID_SHA256:
        raise InvalidInput(what, "SignerInfo digestAlgorithm must be sha256")
    salg = der.Reader(si.read(0x30, "signatureAlgorithm"), what)
    if salg.read(0x06, "signature OID") != OID_ECDSA_SHA256:
        raise InvalidInput(what, "signatureAlgorithm must be ecdsa-with-SHA256")
    signature = si.read(0x04, "signature")
    content = decode_content(content_tlv)
    return ParsedCD(content_tlv, skid, signature, content)


def verify(parsed: ParsedCD, signer_cert) -> None:
    if skid_of(signer_cert) != parsed.signer_skid:
        raise InvalidInput("CD", f"signer key identifier {parsed.signer_skid.hex()} does not name the given signing certificate")
    try:
        signer_cert.public_key().verify(parsed.signature, parsed.content_tlv, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidInput("CD", "signature does not verify with the signing certificate") from None


def check_against_certificates(content: CDContent, dac, pai, paa=None, vendor_id: int | None = None,
                               product_id: int | None = None) -> list[str]:
    """The SDK's CD payload checks (ValidateCertificateDeclarationPayload) against DAC, PAI and PAA."""
    errors = []
    dac_vid, dac_pid = matter_ids(dac)
    pai_vid, pai_pid = matter_ids(pai)
    if vendor_id is not None and content.vendor_id != vendor_id:
        errors.append(f"CD vendor_id 0x{content.vendor_id:04X} differs from vendor_id 0x{vendor_id:04X}")
    if product_id is not None and product_id not in content.product_ids:
        errors.append(f"product_id 0x{product_id:04X} is not in the CD's product_id_array")
    if content.dac_origin_vendor_id is not None:
        if not dac_vid == pai_vid == content.dac_origin_vendor_id:
            errors.append(f"DAC/PAI vendor IDs differ from the CD's dac_origin_vendor_id 0x{content.dac_origin_vendor_id:04X}")
        if dac_pid != content.dac_origin_product_id:
            errors.append(f"DAC product ID differs from the CD's dac_origin_product_id 0x{content.dac_origin_product_id:04X}")
        if pai_pid is not None and pai_pid != content.dac_origin_product_id:
            errors.append("PAI product ID differs from the CD's dac_origin_product_id")
    else:
        if not dac_vid == pai_vid == content.vendor_id:
            errors.append(f"DAC/PAI vendor IDs differ from the CD's vendor_id 0x{content.vendor_id:04X}")
        if dac_pid not in content.product_ids:
            errors.append(f"DAC product ID 0x{dac_pid or 0:04X} is not in the CD's product_id_array")
        if pai_pid is not None and pai_pid not in content.product_ids:
            errors.append(f"PAI product ID 0x{pai_pid:04X} is not in the CD's product_id_array")
    if content.authorized_paa_list and paa is not None and skid_of(paa) not in content.authorized_paa_list:
        errors.append("the PAA's subject key identifier is not in the CD's authorized_paa_list")
    return errors


def load_for(path: str, option: str, vendor_id: int, product_id: int, warn) -> bytes:
    """A CD file to store in a device's factory data, parsed; one for another product is kept, with a warning
    (commissioners will reject the device's attestation until it is replaced)."""
    from ..fileio import read_bytes

    data = read_bytes(path, option)
    content = parse(data, option).content
    if content.vendor_id != vendor_id or product_id not in content.product_ids:
        warn(f"{option}: the CD is for vendor 0x{content.vendor_id:04X}, products "
             f"{', '.join(f'0x{p:04X}' for p in content.product_ids)}, not 0x{vendor_id:04X}/0x{product_id:04X}: "
             f"commissioners will reject this device's attestation")
    return data
