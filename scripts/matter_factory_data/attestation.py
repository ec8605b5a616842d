"""Device attestation certificates (PAA / PAI / DAC): issuing, profile checks, chain checks.

Profiles follow the Matter specification (section 6.2) as the SDK checks them in
``VerifyAttestationCertificateFormat``; issuing follows ``chip-cert gen-att-cert`` conventions.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput

OID_VENDOR_ID = "1.3.6.1.4.1.37244.2.1"
OID_PRODUCT_ID = "1.3.6.1.4.1.37244.2.2"
NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
MAX_DER_LEN = 600
KINDS = ("paa", "pai", "dac")


def _x509():
    from cryptography import x509

    return x509


def random_serial() -> int:
    """64 random bits with the top bit cleared (positive, at most 8 content bytes), never zero."""
    while True:
        s = secrets.randbits(63)
        if s:
            return s


def generate_p256_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def matter_name(cn: str, vid: int | None = None, pid: int | None = None):
    x509 = _x509()
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if vid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(OID_VENDOR_ID), f"{vid:04X}"))
    if pid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(OID_PRODUCT_ID), f"{pid:04X}"))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attrs])


def validity(valid_from: datetime.datetime, lifetime_days: int | None) -> tuple[datetime.datetime, datetime.datetime]:
    """notBefore = valid_from; notAfter = valid_from + lifetime - 1 s, or 9999-12-31 23:59:59 (no expiry)."""
    if valid_from.tzinfo is None:
        valid_from = valid_from.replace(tzinfo=datetime.timezone.utc)
    if lifetime_days is None or lifetime_days == 4294967295:
        return valid_from, NO_EXPIRY
    if lifetime_days <= 0:
        raise InvalidInput("--lifetime", f"{lifetime_days} must be a positive number of days")
    not_after = valid_from + datetime.timedelta(days=lifetime_days) - datetime.timedelta(seconds=1)
    if not_after > NO_EXPIRY:
        not_after = NO_EXPIRY
    return valid_from, not_after


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
):
    """One certificate of the Matter profile ``kind`` (paa, pai, dac), signed ECDSA-SHA256."""
    x509 = _x509()
    from cryptography.hazmat.primitives import hashes

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
    return builder.sign(signer_key, hashes.SHA256())


# ---------------------------------------------------------------- reading


def load_cert(der_or_pem: bytes, what: str):
    x509 = _x509()
    try:
        if b"-----BEGIN" in der_or_pem:
            return x509.load_pem_x509_certificate(der_or_pem)
        return x509.load_der_x509_certificate(der_or_pem)
    except ValueError as e:
        raise InvalidInput(what, f"is not a readable X.509 certificate ({str(e).splitlines()[0]})") from None


def matter_ids(cert) -> tuple[int | None, int | None]:
    """(VID, PID) from the subject: Matter attributes, else the legacy ``Mvid:``/``Mpid:`` CN form."""
    x509 = _x509()
    vid = pid = None
    for oid, attr_name in ((OID_VENDOR_ID, "vid"), (OID_PRODUCT_ID, "pid")):
        attrs = cert.subject.get_attributes_for_oid(x509.ObjectIdentifier(oid))
        if len(attrs) > 1:
            raise InvalidInput("certificate subject", f"has {len(attrs)} {attr_name.upper()} attributes")
        if attrs:
            text = attrs[0].value
            if not (len(text) == 4 and all(c in "0123456789ABCDEF" for c in text)):
                raise InvalidInput(
                    "certificate subject", f"{attr_name.upper()} {text!r} must be exactly 4 uppercase hex digits"
                )
            if attr_name == "vid":
                vid = int(text, 16)
            else:
                pid = int(text, 16)
    if vid is None and pid is None:
        from cryptography.x509.oid import NameOID

        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = cns[0].value[:64] if cns else ""
        for marker in ("Mvid:", "Mpid:"):
            at = cn.find(marker)
            if at >= 0:
                text = cn[at + 5 : at + 9]
                if not (len(text) == 4 and all(c in "0123456789ABCDEF" for c in text)):
                    raise InvalidInput("certificate subject", f"{marker} in the CN is not followed by 4 uppercase hex digits")
                if marker == "Mvid:":
                    vid = int(text, 16)
                else:
                    pid = int(text, 16)
    return vid, pid


def skid_of(cert) -> bytes | None:
    x509 = _x509()
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def akid_of(cert) -> bytes | None:
    x509 = _x509()
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def profile_findings(cert, kind: str, der: bytes | None = None) -> tuple[list[str], list[str]]:
    """(errors, deviations) of a certificate against its Matter profile.

    Errors break attestation for certain (wrong key type, wrong signature algorithm); deviations are
    what a strict attestation verifier rejects and lenient ones may accept.
    """
    x509 = _x509()
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import SignatureAlgorithmOID

    label = kind.upper()
    errors: list[str] = []
    dev: list[str] = []
    pub = cert.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        kind_name = type(pub).__name__.replace("_", "")
        errors.append(f"{label}: public key is {getattr(getattr(pub, 'curve', None), 'name', kind_name)}, not P-256")
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        errors.append(f"{label}: signature algorithm is {cert.signature_algorithm_oid._name}, not ecdsa-with-SHA256")
    if cert.version != x509.Version.v3:
        dev.append(f"{label}: not an X.509 v3 certificate")
    if cert.serial_number <= 0:
        dev.append(f"{label}: serial number must be positive")
    if der is not None and len(der) > MAX_DER_LEN:
        dev.append(f"{label}: DER is {len(der)} bytes, more than the {MAX_DER_LEN} a device stores")
    exts = {e.oid.dotted_string: e for e in cert.extensions}
    seen = [e.oid.dotted_string for e in cert.extensions]
    for oid in set(seen):
        if seen.count(oid) > 1:
            dev.append(f"{label}: extension {oid} appears more than once")

    bc = exts.get(x509.ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
    if bc is None:
        dev.append(f"{label}: basicConstraints extension missing")
    else:
        if not bc.critical:
            dev.append(f"{label}: basicConstraints must be critical")
        if kind == "dac":
            if bc.value.ca:
                dev.append(f"{label}: basicConstraints has cA=TRUE; a DAC must not be a CA")
            if bc.value.path_length is not None:
                dev.append(f"{label}: basicConstraints must not carry pathLenConstraint")
        else:
            if not bc.value.ca:
                dev.append(f"{label}: basicConstraints must have cA=TRUE")
            if kind == "pai" and bc.value.path_length != 0:
                dev.append(f"{label}: basicConstraints pathLenConstraint is {bc.value.path_length}, must be 0")
            if kind == "paa" and bc.value.path_length not in (None, 1):
                dev.append(f"{label}: basicConstraints pathLenConstraint is {bc.value.path_length}, must be absent or 1")
    ku = exts.get(x509.ExtensionOID.KEY_USAGE.dotted_string)
    if ku is None:
        dev.append(f"{label}: keyUsage extension missing")
    else:
        if not ku.critical:
            dev.append(f"{label}: keyUsage must be critical")
        v = ku.value
        bits = {
            "digitalSignature": v.digital_signature, "nonRepudiation": v.content_commitment,
            "keyEncipherment": v.key_encipherment, "dataEncipherment": v.data_encipherment,
            "keyAgreement": v.key_agreement, "keyCertSign": v.key_cert_sign, "cRLSign": v.crl_sign,
        }
        if v.key_agreement:
            bits["encipherOnly"] = v.encipher_only
            bits["decipherOnly"] = v.decipher_only
        on = {k for k, b in bits.items() if b}
        if kind == "dac":
            if "digitalSignature" not in on:
                dev.append(f"{label}: keyUsage lacks digitalSignature")
            extra = sorted(on - {"digitalSignature"})
            if extra:
                dev.append(f"{label}: keyUsage has {', '.join(extra)}; a DAC allows only digitalSignature")
        else:
            for need in ("keyCertSign", "cRLSign"):
                if need not in on:
                    dev.append(f"{label}: keyUsage lacks {need}")
            extra = sorted(on - {"keyCertSign", "cRLSign", "digitalSignature"})
            if extra:
                dev.append(f"{label}: keyUsage has {', '.join(extra)}; a CA allows keyCertSign, cRLSign, digitalSignature")
    ski = exts.get(x509.ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string)
    if ski is None:
        dev.append(f"{label}: subjectKeyIdentifier extension missing")
    else:
        if ski.critical:
            dev.append(f"{label}: subjectKeyIdentifier must not be critical")
        if len(ski.value.digest) != 20:
            dev.append(f"{label}: subjectKeyIdentifier is {len(ski.value.digest)} bytes, must be 20")
    aki = exts.get(x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string)
    if aki is None:
        if kind != "paa":
            dev.append(f"{label}: authorityKeyIdentifier extension missing")
    else:
        if aki.critical:
            dev.append(f"{label}: authorityKeyIdentifier must not be critical")
        if aki.value.key_identifier is None or len(aki.value.key_identifier) != 20:
            dev.append(f"{label}: authorityKeyIdentifier must carry a 20-byte keyIdentifier")
    try:
        vid, pid = matter_ids(cert)
    except InvalidInput as e:
        dev.append(f"{label}: {e.rule}")
        vid = pid = None
    else:
        if kind in ("pai", "dac") and vid is None:
            dev.append(f"{label}: subject has no Matter vendor ID (1.3.6.1.4.1.37244.2.1)")
        if kind == "dac" and pid is None:
            dev.append(f"{label}: subject has no Matter product ID (1.3.6.1.4.1.37244.2.2)")
        if kind == "paa" and pid is not None:
            dev.append(f"{label}: subject must not have a Matter product ID")
    return errors, dev


def signed_by(cert, issuer) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def key_matches(cert, private_key) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    a = cert.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    b = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return secrets.compare_digest(a, b)


@dataclass
class ChainReport:
    errors: list
    deviations: list
    notes: list

    def raise_or_warn(self, warn, strict: bool) -> None:
        if self.errors:
            raise InvalidInput("credentials", self.errors[0])
        if strict and self.deviations:
            raise InvalidInput("credentials", self.deviations[0] + " (--strict)")
        for d in self.deviations:
            warn(d + " (an error with --strict)")
        for n in self.notes:
            warn(n)


def check_chain(
    dac,
    pai,
    paa=None,
    dac_key=None,
    vendor_id: int | None = None,
    product_id: int | None = None,
    manufacturing_date: str | None = None,
    now: datetime.datetime | None = None,
    ders: dict | None = None,
) -> ChainReport:
    """What breaks attestation (errors) and what deviates from the profiles (deviations)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ders = ders or {}
    errors: list[str] = []
    deviations: list[str] = []
    notes: list[str] = []
    for cert, kind in ((dac, "dac"), (pai, "pai"), (paa, "paa")):
        if cert is None:
            continue
        e, d = profile_findings(cert, kind, ders.get(kind))
        errors += e
        deviations += d
    if dac_key is not None and not key_matches(dac, dac_key):
        errors.append("DAC key does not match the DAC certificate's public key")
    if not signed_by(dac, pai):
        errors.append("DAC is not signed by the PAI (signature check failed)")
    elif dac.issuer != pai.subject:
        errors.append("DAC issuer name differs from the PAI subject")
    if akid_of(dac) is not None and skid_of(pai) is not None and akid_of(dac) != skid_of(pai):
        deviations.append("DAC authorityKeyIdentifier differs from the PAI subjectKeyIdentifier")
    if paa is not None:
        if not signed_by(pai, paa):
            errors.append("PAI is not signed by the PAA (signature check failed)")
        if akid_of(pai) is not None and skid_of(paa) is not None and akid_of(pai) != skid_of(paa):
            deviations.append("PAI authorityKeyIdentifier differs from the PAA subjectKeyIdentifier")
    try:
        dac_vid, dac_pid = matter_ids(dac)
        pai_vid, pai_pid = matter_ids(pai)
        paa_vid, paa_pid = matter_ids(paa) if paa is not None else (None, None)
    except InvalidInput as e:
        errors.append(e.rule)
    else:
        if dac_vid is not None and pai_vid is not None and dac_vid != pai_vid:
            errors.append(f"DAC vendor ID 0x{dac_vid:04X} differs from the PAI vendor ID 0x{pai_vid:04X}")
        if pai_pid is not None and dac_pid is not None and pai_pid != dac_pid:
            errors.append(f"DAC product ID 0x{dac_pid:04X} differs from the PAI product ID 0x{pai_pid:04X}")
        if paa_vid is not None and pai_vid is not None and paa_vid != pai_vid:
            errors.append(f"PAI vendor ID 0x{pai_vid:04X} differs from the PAA vendor ID 0x{paa_vid:04X}")
        if vendor_id is not None and dac_vid is not None and dac_vid != vendor_id:
            errors.append(f"vendor_id 0x{vendor_id:04X} differs from the DAC vendor ID 0x{dac_vid:04X}")
        if product_id is not None and dac_pid is not None and dac_pid != product_id:
            errors.append(f"product_id 0x{product_id:04X} differs from the DAC product ID 0x{dac_pid:04X}")
    for cert, label in ((dac, "DAC"), (pai, "PAI")):
        if cert.not_valid_after_utc < now:
            errors.append(f"{label} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    if paa is not None and paa.not_valid_after_utc < now:
        errors.append(f"PAA expired on {paa.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    for issuer, label in ((pai, "PAI"), (paa, "PAA")):
        if issuer is not None and not issuer.not_valid_before_utc <= dac.not_valid_before_utc <= issuer.not_valid_after_utc:
            deviations.append(f"{label} is not valid at the DAC's notBefore ({dac.not_valid_before_utc:%Y-%m-%d})")
    if dac.not_valid_before_utc > now:
        notes.append(f"DAC is not valid yet (notBefore {dac.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC)")
    if manufacturing_date:
        mfg = datetime.datetime.fromisoformat(manufacturing_date).replace(tzinfo=datetime.timezone.utc)
        if dac.not_valid_before_utc > mfg + datetime.timedelta(days=1):
            notes.append(
                f"DAC notBefore {dac.not_valid_before_utc:%Y-%m-%d} is later than the manufacturing date {manufacturing_date}"
            )
    return ChainReport(errors, deviations, notes)


def check_factory_credentials(fd, dac_key_obj, report, strict: bool = False, paa_path: str | None = None,
                              paa_der: bytes | None = None) -> None:
    """The chain checks run whenever factory data is generated (from files or freshly issued)."""
    dac = load_cert(fd.dac_cert, "--dac_cert")
    pai = load_cert(fd.pai_cert, "--pai_cert")
    paa = load_cert(paa_der, "PAA") if paa_der else None
    if paa_path:
        from .keys import load_certificate_der

        paa = load_cert(load_certificate_der(paa_path, "--paa_cert"), "--paa_cert")
    result = check_chain(
        dac, pai, paa, dac_key_obj, fd.vendor_id, fd.product_id, fd.date,
        ders={"dac": fd.dac_cert, "pai": fd.pai_cert},
    )
    result.raise_or_warn(report.warn, strict)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def der(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def pem(cert) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def key_der(key, password: bytes | None = None) -> bytes:
    """SEC1 DER (as chip-cert writes keys); PKCS#8 when encrypted."""
    from cryptography.hazmat.primitives import serialization as s

    if password:
        return key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(password))
    return key.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())


def key_pem(key, password: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization as s

    if password:
        return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.BestAvailableEncryption(password))
    return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())


def date_start(date_text: str) -> datetime.datetime:
    """The manufacturing date at 00:00:00 UTC."""
    d = datetime.date.fromisoformat(date_text)
    return datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc)

