"""Building deliberately deviant certificates for the attestation tests (cryptography's builder)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from matter_factory_data.crypto import attestation, issuing

UTC = datetime.timezone.utc
START = datetime.datetime(2024, 1, 1, tzinfo=UTC)
FOREVER = attestation.NO_EXPIRY
DEFAULT = object()


def name(cn, vid=None, pid=None, lower=False):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    fmt = "{:04x}" if lower else "{:04X}"
    if vid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(attestation.OID_VENDOR_ID), fmt.format(vid)))
    if pid is not None:
        attrs.append(x509.NameAttribute(x509.ObjectIdentifier(attestation.OID_PRODUCT_ID), fmt.format(pid)))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attrs])


def make(kind, vid=None, pid=None, issuer=None, key=None, not_before=START, not_after=FOREVER, bc=DEFAULT,
         ku=DEFAULT, skid=True, akid=True, lower=False, curve=None, rsa=False):
    """(certificate, key). ``issuer`` is a (certificate, key) pair; None = self-signed."""
    if key is None:
        if rsa:
            from cryptography.hazmat.primitives.asymmetric import rsa as rsa_mod

            key = rsa_mod.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(curve or ec.SECP256R1())
    subject = name(f"Test {kind.upper()}", vid, pid, lower)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    b = (x509.CertificateBuilder().serial_number(issuing.random_serial()).subject_name(subject)
         .issuer_name(issuer_cert.subject if issuer_cert else subject).public_key(key.public_key())
         .not_valid_before(not_before).not_valid_after(not_after))
    if bc is DEFAULT:
        bc = x509.BasicConstraints(ca=kind != "dac", path_length={"dac": None, "pai": 0, "paa": 1}[kind])
    if bc is not None:
        b = b.add_extension(bc, critical=True)
    if ku is DEFAULT:
        ku = (x509.KeyUsage(True, False, False, False, False, False, False, False, False) if kind == "dac" else
              x509.KeyUsage(False, False, False, False, False, True, True, False, False))
    if ku is not None:
        b = b.add_extension(ku, critical=True)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    if skid:
        b = b.add_extension(ski, critical=False)
    if akid:
        aki = (issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
               if issuer_cert else ski.digest)
        b = b.add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def chain(vid=0xFFF1, pid=0x8000, pai_pid=None, **dac_kwargs):
    lower = dac_kwargs.get("lower", False)
    paa = make("paa", vid, lower=lower)
    pai = make("pai", vid, pai_pid, issuer=paa, lower=lower)
    dac = make("dac", dac_kwargs.pop("dac_vid", vid), dac_kwargs.pop("dac_pid", pid), issuer=pai, **dac_kwargs)
    return paa, pai, dac


def parsed(pair):
    return attestation.load_cert(issuing.der(pair[0]), "cert")
