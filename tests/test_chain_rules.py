"""The one chain checker against OpenSSL: ``certs verify`` accepts a chain exactly when
``openssl verify -x509_strict`` does and the Matter rules OpenSSL does not know hold (a DAC is issued by a
PAI, VID/PID fit the issuer). The chains are built here with ``cryptography``'s builder, independently of
the tool's own issuing code. Needs the ``openssl`` command (tests/setup.sh installs it)."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import assert_clean_error, run_script
from matter_factory_data.crypto import attestation

VID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37244.2.1")
PID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.37244.2.2")
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


def _name(cn, vid=None, pid=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if vid is not None:
        attrs.append(x509.NameAttribute(VID_OID, f"{vid:04X}"))
    if pid is not None:
        attrs.append(x509.NameAttribute(PID_OID, f"{pid:04X}"))
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attrs])


def _cert(subject, key, issuer_name, issuer_key, issuer_skid, *, ca, path_len=None, ku="ca", start=NOW - DAY,
          end=NOW + 3650 * DAY, bc_critical=True, akid=True, skid=True, wrong_akid=False):
    pub = key.public_key()
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(pub)
         .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end))
    b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=bc_critical)
    if ku == "ca":
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    elif ku == "sign":
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
    elif ku == "leaf+certsign":
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
    own = x509.SubjectKeyIdentifier.from_public_key(pub)
    if skid:
        b = b.add_extension(own, critical=False)
    if akid:
        ident = bytes(20) if wrong_akid else (issuer_skid or own.digest)
        b = b.add_extension(x509.AuthorityKeyIdentifier(ident, None, None), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _skid(cert):
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def build(case: str):
    """(PAA, PAI, DAC) certificates for one named defect (or none), and the DAC key."""
    k_paa, k_pai, k_dac = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    paa_vid = 0xFFF2 if case == "paa_of_other_vid" else 0xFFF1
    paa_name = _name("Test PAA", paa_vid)
    paa = _cert(paa_name, k_paa, paa_name, k_paa, None, ca=True, path_len=0 if case == "paa_pathlen_0" else 1)
    pai_name = _name("Test PAI", 0xFFF1)
    pai_kw = dict(ca=True, path_len=0)
    if case == "pai_is_leaf":
        pai_kw = dict(ca=False, ku="sign")
    elif case == "pai_without_keycertsign":
        pai_kw["ku"] = "sign"
    elif case == "pai_bc_not_critical":
        pai_kw["bc_critical"] = False
    elif case == "pai_without_skid":
        pai_kw["skid"] = False
    elif case == "pai_expired":
        pai_kw.update(start=NOW - 20 * DAY, end=NOW - 10 * DAY)
    pai = _cert(pai_name, k_pai, paa_name, k_paa, _skid(paa), **pai_kw)
    pai_skid = _skid(pai) if case != "pai_without_skid" else None
    dac_vid, dac_pid = (0xFFF3 if case == "dac_vid_not_pai_vid" else 0xFFF1), 0x8000
    dac_kw = dict(ca=False, ku="sign", start=NOW - DAY, end=NOW + 365 * DAY)
    issuer_name, issuer_key, issuer_skid = pai_name, k_pai, pai_skid
    if case == "dac_expired":
        dac_kw.update(start=NOW - 10 * DAY, end=NOW - DAY)
    elif case == "dac_not_yet_valid":
        dac_kw.update(start=NOW + 2 * DAY)
    elif case == "dac_without_akid":
        dac_kw["akid"] = False
    elif case == "dac_wrong_akid":
        dac_kw["wrong_akid"] = True
    elif case == "dac_with_keycertsign":
        dac_kw["ku"] = "leaf+certsign"
    elif case == "dac_signed_by_other_key":
        issuer_key = ec.generate_private_key(ec.SECP256R1())
    elif case == "dac_signed_by_paa":
        issuer_name, issuer_key, issuer_skid = paa_name, k_paa, _skid(paa)
    if case == "pai_without_skid":
        issuer_skid = bytes(20)  # nothing to point at; OpenSSL already rejects the PAI
    dac = _cert(_name("Test DAC", dac_vid, dac_pid), k_dac, issuer_name, issuer_key, issuer_skid, **dac_kw)
    if case == "dac_signed_by_paa":
        pai = paa  # the "PAI" given is the PAA itself
    return paa, pai, dac, k_dac


# case -> does a Matter commissioner accept it, beyond what OpenSSL checks
CASES = {
    "good": True,
    "pai_is_leaf": True,
    "pai_without_keycertsign": True,
    "pai_bc_not_critical": True,
    "pai_without_skid": True,
    "pai_expired": True,
    "paa_pathlen_0": True,
    "dac_expired": True,
    "dac_not_yet_valid": True,
    "dac_without_akid": True,
    "dac_wrong_akid": True,
    "dac_with_keycertsign": True,
    "dac_signed_by_other_key": True,
    "dac_signed_by_paa": False,  # OpenSSL accepts DAC <- PAA; Matter needs a PAI between them
    "dac_vid_not_pai_vid": False,  # OpenSSL knows no vendor IDs
    "paa_of_other_vid": False,
}
OPENSSL_ACCEPTS = {"good", "dac_signed_by_paa", "dac_vid_not_pai_vid", "paa_of_other_vid"}


def _pem(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_certs_verify_agrees_with_openssl_x509_strict(tmp_path, case):
    openssl = shutil.which("openssl")
    assert openssl, "openssl is not installed (tests/setup.sh installs it)"
    paa, pai, dac, dac_key = build(case)
    f_paa, f_pai, f_dac = _pem(tmp_path / "paa.pem", paa), _pem(tmp_path / "pai.pem", pai), _pem(tmp_path / "dac.pem", dac)
    p = subprocess.run([openssl, "verify", "-x509_strict", "-CAfile", f_paa, "-untrusted", f_pai, f_dac],
                       capture_output=True, text=True)
    openssl_ok = p.returncode == 0
    assert openssl_ok == (case in OPENSSL_ACCEPTS), (case, p.stdout, p.stderr)  # the matrix means what it says
    r = run_script("certs", "verify", "--dac", f_dac, "--pai", f_pai, "--paa", f_paa)
    assert "Traceback" not in r.stderr
    expected = openssl_ok and CASES[case]
    assert r.code == (0 if expected else 2), (case, r.stdout, r.stderr)
    assert ("OK:" in r.stdout) == expected


@pytest.mark.parametrize("case,rule", [
    ("pai_is_leaf", "PAI: is not a CA"),
    ("pai_without_keycertsign", "PAI: keyUsage lacks keyCertSign"),
    ("dac_signed_by_paa", "a DAC must be issued by a PAI"),
    ("dac_vid_not_pai_vid", "DAC: vendor ID 0xFFF3 differs from the PAI vendor ID 0xFFF1"),
    ("paa_of_other_vid", "PAI: vendor ID 0xFFF1 differs from the PAA vendor ID 0xFFF2"),
    ("pai_expired", "PAI: expired on"),
])
def test_chain_rules_refuse_issuing_and_using(tmp_path, case, rule):
    """The same rules where certificates are issued (certs dac) and used (json, batch): exit 2, one line naming
    the certificate and the rule, nothing written."""
    paa, pai, dac, dac_key = build(case)
    f_pai, f_dac = _pem(tmp_path / "pai.pem", pai), _pem(tmp_path / "dac.pem", dac)
    f_key = tmp_path / "dac_key.pem"
    f_key.write_bytes(dac_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    out = tmp_path / "out"
    out.mkdir()
    common = ["--vendor_id", "0xFFF1", "--product_id", "0x8000"]
    if case in ("pai_is_leaf", "pai_without_keycertsign", "pai_expired"):
        # the PAI's key is not at hand here: issue DACs with a CA made for the purpose instead
        pass
    r = run_script("json", "--sn", "SN1", *common, "--vendor_name", "V", "--product_name", "P",
                   "--date", NOW.strftime("%Y-%m-%d"), "--hw_ver", "1", "--hw_ver_str", "1",
                   "--dac_cert", f_dac, "--dac_key", str(f_key), "--pai_cert", f_pai, "--spake2_it", "1000",
                   "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021", "--discriminator", "1",
                   *(["--paa_cert", _pem(tmp_path / "paa.pem", paa)] if case == "paa_of_other_vid" else []),
                   "-o", str(out / "fd"))
    assert_clean_error(r, 2, rule)
    assert list(out.iterdir()) == []


def _ca_files(tmp_path, case):
    """A CA certificate and key of the kind ``case`` describes, as files (for certs dac / batch)."""
    k_paa, k_ca = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    paa_name = _name("Test PAA", 0xFFF1)
    paa = _cert(paa_name, k_paa, paa_name, k_paa, None, ca=True, path_len=1)
    if case == "leaf":
        ca = _cert(_name("Leaf", 0xFFF1), k_ca, paa_name, k_paa, _skid(paa), ca=False, ku="sign")
    elif case == "paa":
        ca, k_ca = paa, k_paa
    else:  # expired
        ca = _cert(_name("Old PAI", 0xFFF1), k_ca, paa_name, k_paa, _skid(paa), ca=True, path_len=0,
                   start=NOW - 20 * DAY, end=NOW - 10 * DAY)
    cert = _pem(tmp_path / f"{case}-cert.pem", ca)
    key = tmp_path / f"{case}-key.pem"
    key.write_bytes(k_ca.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert, str(key)


@pytest.mark.parametrize("case,rule", [
    ("leaf", "--ca_cert: PAI: is not a CA"),
    ("paa", "--ca_cert: PAI: is self-signed"),
    ("expired", "--ca_cert: PAI: expired on"),
])
def test_certs_dac_refuses_a_ca_that_cannot_issue_it(tmp_path, case, rule):
    cert, key = _ca_files(tmp_path, case)
    out = tmp_path / "out"
    out.mkdir()
    r = run_script("certs", "dac", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--ca_cert", cert,
                   "--ca_key", key, "--out", str(out / "DAC"))
    assert_clean_error(r, 2, rule)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("case,rule", [
    ("leaf", "--pai_cert: PAI: is not a CA"),
    ("paa", "--pai_cert: PAI: is self-signed"),
    ("expired", "--pai_cert: PAI: expired on"),
])
def test_batch_refuses_a_pai_that_cannot_issue_dacs(tmp_path, case, rule):
    cert, key = _ca_files(tmp_path, case)
    out = tmp_path / "out"
    out.mkdir()
    r = run_script("batch", "--count", "3", "--vendor_id", "0xFFF1", "--product_id", "0x8000",
                   "--vendor_name", "V", "--product_name", "P", "--date", NOW.strftime("%Y-%m-%d"),
                   "--pai_cert", cert, "--pai_key", key, "--out", str(out), "--quiet")
    assert_clean_error(r, 2, rule)
    assert list(out.iterdir()) == []


def test_the_last_day_x509_can_express_is_a_manufacturing_date():
    """9999-12-31 has no next day: the day's end is its 23:59:59 (found by the hostile-argument test)."""
    start, end = attestation._utc_day("9999-12-31")
    assert (start.isoformat(), end.isoformat()) == ("9999-12-31T00:00:00+00:00", "9999-12-31T23:59:59+00:00")
