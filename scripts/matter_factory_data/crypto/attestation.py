"""Device attestation certificates (PAA / PAI / DAC): the profile and chain rules, on certificates read by
``der.Certificate``.

Profiles follow the Matter specification (section 6.2) as the SDK checks them in
``VerifyAttestationCertificateFormat``. Issuing lives in ``issuing`` (cryptography's X.509 builder) and, for
batches, ``dac_template`` (the same bytes from a DER template).
"""

from __future__ import annotations

import datetime
import hmac


from ..errors import InvalidInput
from .der import (
    OID_AKID,
    OID_BASIC_CONSTRAINTS,
    OID_COMMON_NAME,
    OID_EC_PUBLIC_KEY,
    OID_ECDSA_SHA256,
    OID_KEY_USAGE,
    OID_PRIME256V1,
    OID_SKID,
    Certificate,
)
from .keys import load_certificate_der, pem_blocks
from .spake2p import p256_point as public_point

OID_VENDOR_ID = "1.3.6.1.4.1.37244.2.1"
OID_PRODUCT_ID = "1.3.6.1.4.1.37244.2.2"
NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
FIRST_TIME = datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)  # UTCTime's first year
MAX_DER_LEN = 600
KINDS = ("paa", "pai", "dac")


def validity(valid_from: datetime.datetime, lifetime_days: int | None) -> tuple[datetime.datetime, datetime.datetime]:
    """notBefore = valid_from; notAfter = valid_from + lifetime - 1 s, or 9999-12-31 23:59:59 (no expiry)."""
    if valid_from.tzinfo is None:
        valid_from = valid_from.replace(tzinfo=datetime.timezone.utc)
    if lifetime_days is None or lifetime_days == 4294967295:
        return valid_from, NO_EXPIRY
    if lifetime_days <= 0:
        raise InvalidInput("--lifetime", f"{lifetime_days} must be a positive number of days")
    if not FIRST_TIME <= valid_from <= NO_EXPIRY:
        raise InvalidInput("--valid_from", f"{valid_from:%Y-%m-%d} is outside what X.509 can express "
                                           f"(1950-01-01 .. 9999-12-31)")
    try:
        not_after = valid_from + datetime.timedelta(days=lifetime_days) - datetime.timedelta(seconds=1)
    except OverflowError:
        not_after = None
    if not_after is None or not_after > NO_EXPIRY:
        raise InvalidInput("--lifetime", f"{lifetime_days} days from {valid_from:%Y-%m-%d} end after 9999-12-31, "
                                         f"the last date X.509 can express (leave out --lifetime: no expiry)")
    return valid_from, not_after


# ---------------------------------------------------------------- reading (DER reader, see der.py)


def load_cert(der_or_pem: bytes, what: str):
    """A ``der.Certificate`` from DER or PEM bytes."""
    data = der_or_pem
    if b"-----BEGIN" in data:
        blocks = [d for label, d in pem_blocks(data) if label in ("CERTIFICATE", "X509 CERTIFICATE") and d]
        if not blocks:
            raise InvalidInput(what, "PEM holds no readable CERTIFICATE block")
        data = blocks[0]
    try:
        return Certificate(bytes(data), what)
    except InvalidInput as e:
        raise InvalidInput(what, f"is not a readable X.509 certificate ({e.rule})") from None
    except (ValueError, IndexError):
        raise InvalidInput(what, "is not a readable X.509 certificate") from None


def matter_ids(cert, lenient: bool = False) -> tuple[int | None, int | None]:
    """(VID, PID) from the subject: Matter attributes, else the legacy ``Mvid:``/``Mpid:`` CN form.

    ``lenient`` also reads lowercase hex (a profile deviation reported by ``profile_findings``)."""
    vid = pid = None
    for oid, attr_name in ((OID_VENDOR_ID, "vid"), (OID_PRODUCT_ID, "pid")):
        values = cert.subject.get(oid)
        if len(values) > 1:
            raise InvalidInput("certificate subject", f"has {len(values)} {attr_name.upper()} attributes")
        if values:
            text = values[0]
            if lenient:
                text = text.upper()
            if not (len(text) == 4 and all(c in "0123456789ABCDEF" for c in text)):
                raise InvalidInput(
                    "certificate subject", f"{attr_name.upper()} {text!r} must be exactly 4 uppercase hex digits"
                )
            if attr_name == "vid":
                vid = int(text, 16)
            else:
                pid = int(text, 16)
    if vid is None and pid is None:
        cns = cert.subject.get(OID_COMMON_NAME)
        cn = cns[0][:64] if cns else ""
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
    """Subject key identifier of a ``der.Certificate`` or a ``cryptography`` certificate (read again as DER:
    this module never needs cryptography's X.509 stack)."""
    return _as_der_certificate(cert).skid


def _as_der_certificate(cert) -> Certificate:
    if isinstance(cert, Certificate):
        return cert
    # a cryptography certificate: its X.509 module has already imported serialization, so this costs nothing
    from cryptography.hazmat.primitives.serialization import Encoding

    return Certificate(cert.public_bytes(Encoding.DER))


def profile_findings(cert, kind: str) -> tuple[list[str], list[str]]:
    """(errors, deviations) of a ``der.Certificate`` against its Matter profile.

    Errors break attestation for certain: what ``openssl verify -x509_strict`` rejects (a CA without cA=TRUE,
    keyCertSign or a critical basicConstraints, a missing key identifier, keyCertSign on a leaf, ...) and what
    every Matter verifier rejects (wrong key type or signature algorithm, a DAC that is a CA, a PAI without a
    vendor ID). Deviations are what a strict attestation verifier rejects and lenient ones accept.
    """
    errors: list[str] = []
    dev: list[str] = []
    for rules in (_encoding_findings, _basic_constraints_findings, _key_usage_findings, _identity_findings):
        rules(cert, kind, kind.upper(), errors, dev)
    return errors, dev


def _encoding_findings(cert, kind: str, label: str, errors: list, dev: list) -> None:
    """Key and signature algorithms, version, serial, size, names, duplicate extensions."""
    if cert.key_algorithm != OID_EC_PUBLIC_KEY:
        errors.append(f"{label}: public key algorithm {cert.key_algorithm} is not EC; Matter needs P-256")
    elif cert.key_curve != OID_PRIME256V1:
        errors.append(f"{label}: public key curve {cert.key_curve} is not P-256 (prime256v1)")
    if cert.signature_algorithm != OID_ECDSA_SHA256:
        errors.append(f"{label}: signature algorithm {cert.signature_algorithm} is not ecdsa-with-SHA256")
    elif cert.signature_algorithm_has_params:
        dev.append(f"{label}: ecdsa-with-SHA256 must have absent parameters")
    if cert.tbs_signature_algorithm != cert.signature_algorithm:
        errors.append(f"{label}: the signature algorithm inside the certificate differs from the outer one")
    if cert.version != 3:
        (errors if cert.extensions else dev).append(f"{label}: not an X.509 v3 certificate")
    if cert.serial <= 0:
        dev.append(f"{label}: serial number must be positive")
    if len(cert.der) > MAX_DER_LEN:
        dev.append(f"{label}: DER is {len(cert.der)} bytes, more than the {MAX_DER_LEN} a device stores")
    if not cert.subject.attributes:
        errors.append(f"{label}: subject name is empty")
    if not cert.issuer.attributes:
        errors.append(f"{label}: issuer name is empty")
    seen = [oid for oid, _, _ in cert.extensions]
    for oid in sorted(set(seen)):
        if seen.count(oid) > 1:
            errors.append(f"{label}: extension {oid} appears more than once")


def _basic_constraints_findings(cert, kind: str, label: str, errors: list, dev: list) -> None:
    is_ca = kind != "dac"
    bc_ext = cert.extension(OID_BASIC_CONSTRAINTS)
    ca, path_len = cert.basic_constraints() if bc_ext is not None else (False, None)
    if is_ca:
        if not ca:
            errors.append(f"{label}: is not a CA (basicConstraints cA=TRUE is missing), so it cannot issue certificates")
        elif not bc_ext[0]:
            errors.append(f"{label}: basicConstraints of a CA must be critical")
        if kind == "pai" and ca and path_len not in (None, 0):
            dev.append(f"{label}: basicConstraints pathLenConstraint is {path_len}, must be 0")
        if kind == "pai" and ca and path_len is None:
            dev.append(f"{label}: basicConstraints must carry pathLenConstraint 0")
        if kind == "paa" and ca and path_len == 0:
            errors.append(f"{label}: basicConstraints pathLenConstraint 0 allows no PAI below it")
        elif kind == "paa" and path_len not in (None, 1):
            dev.append(f"{label}: basicConstraints pathLenConstraint is {path_len}, must be absent or 1")
    else:
        if bc_ext is None:
            dev.append(f"{label}: basicConstraints extension missing")
        else:
            if not bc_ext[0]:
                dev.append(f"{label}: basicConstraints must be critical")
            if ca:
                errors.append(f"{label}: basicConstraints has cA=TRUE; a DAC must not be a CA")
        if path_len is not None:
            errors.append(f"{label}: basicConstraints carries pathLenConstraint, which only a CA may")


def _key_usage_findings(cert, kind: str, label: str, errors: list, dev: list) -> None:
    is_ca = kind != "dac"
    ku_ext = cert.extension(OID_KEY_USAGE)
    on = cert.key_usage() if ku_ext is not None else set()
    if ku_ext is None:
        (errors if is_ca else dev).append(f"{label}: keyUsage extension missing")
    elif not ku_ext[0]:
        dev.append(f"{label}: keyUsage must be critical")
    if not is_ca:
        if ku_ext is not None and "digitalSignature" not in on:
            dev.append(f"{label}: keyUsage lacks digitalSignature")
        if "keyCertSign" in on:
            errors.append(f"{label}: keyUsage has keyCertSign, which only a CA may")
        extra = sorted(on - {"digitalSignature", "keyCertSign"})
        if extra:
            dev.append(f"{label}: keyUsage has {', '.join(extra)}; a DAC allows only digitalSignature")
    elif ku_ext is not None:
        if "keyCertSign" not in on:
            errors.append(f"{label}: keyUsage lacks keyCertSign, so it cannot issue certificates")
        if "cRLSign" not in on:
            dev.append(f"{label}: keyUsage lacks cRLSign")
        extra = sorted(on - {"keyCertSign", "cRLSign", "digitalSignature"})
        if extra:
            dev.append(f"{label}: keyUsage has {', '.join(extra)}; a CA allows keyCertSign, cRLSign, digitalSignature")


def _identity_findings(cert, kind: str, label: str, errors: list, dev: list) -> None:
    """Key identifiers, self-issued or not, the Matter vendor and product IDs."""
    is_ca = kind != "dac"
    ski = cert.extension(OID_SKID)
    if ski is None:
        (errors if is_ca else dev).append(f"{label}: subjectKeyIdentifier extension missing")
    else:
        if ski[0]:
            errors.append(f"{label}: subjectKeyIdentifier must not be critical")
        if len(cert.skid or b"") != 20:
            dev.append(f"{label}: subjectKeyIdentifier is {len(cert.skid or b'')} bytes, must be 20")
    aki = cert.extension(OID_AKID)
    if aki is None:
        if kind != "paa":
            errors.append(f"{label}: authorityKeyIdentifier extension missing")
    else:
        if aki[0]:
            errors.append(f"{label}: authorityKeyIdentifier must not be critical")
        if cert.akid is None or len(cert.akid) != 20:
            dev.append(f"{label}: authorityKeyIdentifier must carry a 20-byte keyIdentifier")
    self_issued = cert.subject == cert.issuer
    if kind == "paa" and not self_issued:
        errors.append(f"{label}: is not self-signed (issuer differs from subject); a PAA is a root")
    if kind == "pai" and self_issued:
        errors.append(f"{label}: is self-signed, a root like a PAA; a DAC must be issued by a PAI, which a PAA issues")
    try:
        vid, pid = matter_ids(cert)
    except InvalidInput as e:
        dev.append(f"{label}: {e.rule}")
    else:
        if kind == "pai" and vid is None:
            errors.append(f"{label}: subject has no Matter vendor ID (1.3.6.1.4.1.37244.2.1); a PAI must have one")
        if kind == "dac" and vid is None:
            dev.append(f"{label}: subject has no Matter vendor ID (1.3.6.1.4.1.37244.2.1)")
        if kind == "dac" and pid is None:
            dev.append(f"{label}: subject has no Matter product ID (1.3.6.1.4.1.37244.2.2)")
        if kind == "paa" and pid is not None:
            dev.append(f"{label}: subject must not have a Matter product ID")


def signed_by(cert, issuer) -> bool:
    return cert.is_signed_by(issuer)


def key_matches(cert, private_key) -> bool:
    """Does ``private_key`` (a scalar, a ``cryptography`` key, a key in a token or a ``pkcs11:`` URI) belong to
    ``cert``'s public key?"""
    if isinstance(private_key, str):
        from .keys import signer

        private_key = signer(private_key)
    point = getattr(private_key, "public_point", None)  # a key in a token: its public point
    if point is None:
        scalar = private_key if isinstance(private_key, int) else private_key.private_numbers().private_value
        point = public_point(scalar)
    return hmac.compare_digest(point, _as_der_certificate(cert).public_key_bytes)


class ChainReport:
    def __init__(self, errors: list, deviations: list, notes: list):
        self.errors = errors
        self.deviations = deviations
        self.notes = notes

    def raise_or_warn(self, warn, strict: bool, what: str = "credentials") -> None:
        if self.errors:
            raise InvalidInput(what, self.errors[0])
        if strict and self.deviations:
            raise InvalidInput(what, self.deviations[0] + " (--strict)")
        for d in self.deviations:
            warn(d + " (an error with --strict)")
        for n in self.notes:
            warn(n)


def _utc_day(date_text: str) -> tuple[datetime.datetime, datetime.datetime]:
    start = date_start(date_text)
    return start, start.replace(hour=23, minute=59, second=59)  # 9999-12-31 has no next day


def link_findings(child, child_kind: str, issuer, issuer_kind: str) -> tuple[list[str], list[str]]:
    """(errors, deviations) of one link: ``issuer`` signed ``child``, may issue it, and encloses it.

    The issuer's own CA-ness (cA, keyCertSign) is a profile rule, in ``profile_findings``."""
    child_l, issuer_l = child_kind.upper(), issuer_kind.upper()
    errors: list[str] = []
    dev: list[str] = []
    if not signed_by(child, issuer):
        errors.append(f"{child_l}: is not signed by the {issuer_l} (signature check failed)")
    elif child.issuer != issuer.subject:
        errors.append(f"{child_l}: issuer name differs from the {issuer_l} subject")
    if child.akid is not None and issuer.skid is not None and child.akid != issuer.skid:
        errors.append(f"{child_l}: authorityKeyIdentifier differs from the {issuer_l} subjectKeyIdentifier")
    if not issuer.not_before <= child.not_before:
        errors.append(f"{child_l}: validity starts {child.not_before:%Y-%m-%d %H:%M:%S} UTC, before its {issuer_l} "
                      f"({issuer.not_before:%Y-%m-%d %H:%M:%S} UTC); a certificate's validity must lie within its issuer's")
    if not child.not_after <= issuer.not_after:
        errors.append(f"{child_l}: validity ends {child.not_after:%Y-%m-%d %H:%M:%S} UTC, after its {issuer_l} "
                      f"({issuer.not_after:%Y-%m-%d %H:%M:%S} UTC); a certificate's validity must lie within its issuer's")
    try:
        child_vid, child_pid = matter_ids(child, lenient=True)
        issuer_vid, issuer_pid = matter_ids(issuer, lenient=True)
    except InvalidInput as e:
        errors.append(e.rule)
    else:
        if issuer_vid is not None and child_vid is not None and child_vid != issuer_vid:
            errors.append(f"{child_l}: vendor ID 0x{child_vid:04X} differs from the {issuer_l} vendor ID 0x{issuer_vid:04X}")
        if issuer_vid is not None and child_vid is None:
            errors.append(f"{child_l}: has no vendor ID, but its {issuer_l} allows only vendor ID 0x{issuer_vid:04X}")
        if issuer_pid is not None and child_pid is not None and child_pid != issuer_pid:
            errors.append(f"{child_l}: product ID 0x{child_pid:04X} differs from the {issuer_l} product ID 0x{issuer_pid:04X}")
        if issuer_pid is not None and child_pid is None:
            errors.append(f"{child_l}: has no product ID, but its {issuer_l} allows only product ID 0x{issuer_pid:04X}")
    return errors, dev


def time_findings(certs: list, manufacturing_date: str | None, now: datetime.datetime,
                  require_valid_now: bool = False) -> tuple[list[str], list[str]]:
    """(errors, notes): every certificate is unexpired now and on the manufacturing date (and, for
    ``require_valid_now``, already valid now, as ``openssl verify`` wants). One that starts after the
    manufacturing date is a note."""
    errors: list[str] = []
    notes: list[str] = []
    day = _utc_day(manufacturing_date) if manufacturing_date else None
    for cert, kind in certs:
        if cert is None:
            continue
        label = kind.upper()
        if cert.not_after < now:
            errors.append(f"{label}: expired on {cert.not_after:%Y-%m-%d %H:%M:%S} UTC")
        elif day is not None and cert.not_after < day[0]:
            errors.append(f"{label}: expired on {cert.not_after:%Y-%m-%d %H:%M:%S} UTC, before the manufacturing "
                          f"date {manufacturing_date}")
        if day is not None and cert.not_before > day[1]:
            # a note, not an error: neither the device nor a commissioner compares the two, and the SDK's own
            # defaults (manufacturing date 2022-01-01, development DACs from 2022-02-05) do this
            notes.append(f"{label}: not valid until {cert.not_before:%Y-%m-%d %H:%M:%S} UTC, after the "
                         f"manufacturing date {manufacturing_date}")
        if cert.not_before > now:
            (errors if require_valid_now else notes).append(
                f"{label}: not valid yet (notBefore {cert.not_before:%Y-%m-%d %H:%M:%S} UTC)")
    return errors, notes


def check_chain(
    dac,
    pai,
    paa=None,
    dac_key=None,
    vendor_id: int | None = None,
    product_id: int | None = None,
    manufacturing_date: str | None = None,
    now: datetime.datetime | None = None,
    require_valid_now: bool = False,
) -> ChainReport:
    """The one chain checker: what breaks attestation (errors) and what deviates from the profiles.

    ``dac``, ``pai``, ``paa`` are ``der.Certificate``; ``dac_key`` a private scalar or ``cryptography`` key.
    Every path that issues or consumes certificates ends here (or in ``check_issued`` for one new link).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    errors: list[str] = []
    deviations: list[str] = []
    notes: list[str] = []
    for cert, kind in ((dac, "dac"), (pai, "pai"), (paa, "paa")):
        if cert is None:
            continue
        e, d = profile_findings(cert, kind)
        errors += e
        deviations += d
    if any("algorithm" in e or "curve" in e for e in errors):
        return ChainReport(errors, deviations, notes)
    if dac_key is not None and not key_matches(dac, dac_key):
        errors.append("DAC key does not match the DAC certificate's public key")
    e, n = time_findings([(dac, "dac"), (pai, "pai"), (paa, "paa")], manufacturing_date, now, require_valid_now)
    errors += e  # an expired certificate first: it is the cause of a validity that no longer nests
    notes += n
    links = [(dac, "dac", pai, "pai")] + ([(pai, "pai", paa, "paa")] if paa is not None else [])
    for child, child_kind, issuer, issuer_kind in links:
        e, d = link_findings(child, child_kind, issuer, issuer_kind)
        errors += e
        deviations += d
    try:
        dac_vid, dac_pid = matter_ids(dac, lenient=True)
    except InvalidInput:
        dac_vid = dac_pid = None
    if vendor_id is not None and dac_vid is not None and dac_vid != vendor_id:
        errors.append(f"vendor_id 0x{vendor_id:04X} differs from the DAC vendor ID 0x{dac_vid:04X}")
    if product_id is not None and dac_pid is not None and dac_pid != product_id:
        errors.append(f"product_id 0x{product_id:04X} differs from the DAC product ID 0x{dac_pid:04X}")
    return ChainReport(errors, deviations, notes)


def check_issuer(ca, kind: str, manufacturing_date: str | None = None, issuer=None, issuer_kind: str = "paa",
                 now: datetime.datetime | None = None, strict: bool = False, warn=None) -> None:
    """A CA about to issue certificates (a PAI for DACs, a PAA for PAIs) must be able to: raise the first
    violation as ``InvalidInput`` naming the certificate and the rule (``issuer`` checks its link too)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    errors, deviations = profile_findings(ca, kind)
    notes: list[str] = []
    if issuer is not None:
        e, d = profile_findings(issuer, issuer_kind)
        errors += e
        deviations += d
        e, d = link_findings(ca, kind, issuer, issuer_kind)
        errors += e
        deviations += d
    e, n = time_findings([(ca, kind), (issuer, issuer_kind)], manufacturing_date, now)
    errors += e
    notes += n
    ChainReport(errors, deviations, notes).raise_or_warn(warn or (lambda _m: None), strict, ca.what)


def check_issued(child_der: bytes, child_kind: str, issuer_der: bytes, issuer_kind: str, what: str,
                 manufacturing_date: str | None = None) -> None:
    """A certificate just issued, before anything is written: its issuer may issue it and it nests inside
    the issuer (validity, VID, PID). Deviations of a given CA are reported by ``check_issuer``."""
    child = load_cert(child_der, what)
    issuer = load_cert(issuer_der, "issuing CA")
    errors = profile_findings(issuer, issuer_kind)[0] + profile_findings(child, child_kind)[0]
    errors += link_findings(child, child_kind, issuer, issuer_kind)[0]
    errors += time_findings([(child, child_kind)], manufacturing_date,
                            datetime.datetime.now(datetime.timezone.utc))[0]
    if errors:
        raise InvalidInput(what, errors[0])


def check_factory_credentials(fd, dac_key, report, strict: bool = False, paa_path: str | None = None,
                              paa_der: bytes | None = None) -> None:
    """The chain checks run whenever factory data is generated (from files or freshly issued)."""
    dac = load_cert(fd.dac_cert, "--dac_cert")
    pai = load_cert(fd.pai_cert, "--pai_cert")
    paa = load_cert(paa_der, "PAA") if paa_der else None
    if paa_path:
        paa = load_cert(load_certificate_der(paa_path, "--paa_cert"), "--paa_cert")
    result = check_chain(dac, pai, paa, dac_key, fd.vendor_id, fd.product_id, fd.date)
    result.raise_or_warn(report.warn, strict)


def date_start(date_text: str) -> datetime.datetime:
    """The manufacturing date at 00:00:00 UTC."""
    d = datetime.date.fromisoformat(date_text)
    return datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc)


def parse_valid_from(text: str, what: str = "--valid_from"):
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS`` (also with ``T``), in UTC."""
    t = text.strip().replace("T", " ").rstrip("Z")
    if t.isascii():  # strptime also reads other scripts' digits
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                value = datetime.datetime.strptime(t, fmt).replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                continue
            if value.year < 1950:
                raise InvalidInput(what, f"{text!r} is before 1950-01-01, the first date X.509 can express")
            return value
    raise InvalidInput(what, f"{text!r} is not a date/time of the form YYYY-MM-DD [HH:MM:SS]")
