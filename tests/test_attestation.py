"""Attestation certificates: issuing per the Matter profiles, reading them, chain and profile checks
(spec/crypto.md §3)."""

import datetime
import hashlib
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from matter_factory_data.crypto import attestation, dac_template, der, issuing
from matter_factory_data.errors import InvalidInput
from certkit import START, UTC, chain, make, parsed
from conftest import CREDS, FIXTURES, assert_clean_error, run_script

TEST = os.path.join(CREDS, "test-attestation")
DEV = os.path.join(CREDS, "development-attestation")
NXP = os.path.join(FIXTURES, "nxp-demo")


def _all_fixture_certs():
    out = []
    for root, _, files in os.walk(FIXTURES):
        for f in sorted(files):
            if f.endswith(("-Cert.der", "_cert.der")):
                out.append(os.path.join(root, f))
    return out


@pytest.mark.parametrize("path", _all_fixture_certs(), ids=os.path.basename)
def test_der_reader_agrees_with_cryptography(path):
    data = open(path, "rb").read()
    ours = der.Certificate(data)
    ref = x509.load_der_x509_certificate(data)
    assert ours.serial == ref.serial_number and ours.version == 3
    assert ours.not_before == ref.not_valid_before_utc and ours.not_after == ref.not_valid_after_utc
    assert ours.tbs == ref.tbs_certificate_bytes and ours.signature == ref.signature
    assert ours.signature_algorithm == ref.signature_algorithm_oid.dotted_string
    assert ours.subject.raw == ref.subject.public_bytes() and ours.issuer.raw == ref.issuer.public_bytes()
    assert [(o, v) for o, v, _ in ours.subject.attributes] == [(a.oid.dotted_string, a.value) for a in ref.subject]
    assert [(o, c) for o, c, _ in ours.extensions] == [(e.oid.dotted_string, e.critical) for e in ref.extensions]
    bc = ref.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ours.basic_constraints() == (bc.ca, bc.path_length)
    assert ours.skid == ref.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    ku = ref.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ("digitalSignature" in ours.key_usage()) == ku.digital_signature
    assert ("keyCertSign" in ours.key_usage()) == ku.key_cert_sign
    assert ours.public_key().public_numbers() == ref.public_key().public_numbers()


@pytest.mark.parametrize("dac,key,pai,paa", [
    ("test-attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.der", "test-attestation/Chip-Test-DAC-FFF1-8000-0000-Key.der",
     "test-attestation/Chip-Test-PAI-FFF1-8000-Cert.der", "test-attestation/Chip-Test-PAA-FFF1-Cert.der"),
    ("test-attestation/Chip-Test-DAC-FFF1-8000-0000-Cert.pem", "test-attestation/Chip-Test-DAC-FFF1-8000-0000-Key.pem",
     "test-attestation/Chip-Test-PAI-FFF1-8000-Cert.pem", "test-attestation/Chip-Test-PAA-FFF1-Cert.pem"),
    ("development-attestation/Matter-Development-DAC-FFF1-8000-Cert.der",
     "development-attestation/Matter-Development-DAC-FFF1-8000-Key.der",
     "development-attestation/Matter-Development-PAI-FFF1-noPID-Cert.der", "test-attestation/Chip-Test-PAA-FFF1-Cert.der"),
    ("development-attestation/Matter-Development-DAC-FFF1-8006-Cert.pem",
     "development-attestation/Matter-Development-DAC-FFF1-8006-Key.pem",
     "development-attestation/Matter-Development-PAI-FFF1-noPID-Cert.pem", "test-attestation/Chip-Test-PAA-FFF1-Cert.pem"),
])
def test_certs_verify_accepts_sdk_chains(dac, key, pai, paa):
    r = run_script("certs", "verify", "--dac", os.path.join(CREDS, dac), "--dac_key", os.path.join(CREDS, key),
                   "--pai", os.path.join(CREDS, pai), "--paa", os.path.join(CREDS, paa), "--strict")
    assert r.code == 0, r.stdout + r.stderr
    assert "OK: DAC key, DAC <- PAI <- PAA" in r.stdout


def test_nxp_demo_chain():
    r = run_script("certs", "verify", "--dac", os.path.join(NXP, "dac/dut1/Chip-DAC-NXP-1037-A220-Cert.der"),
                   "--dac_key", os.path.join(NXP, "dac/dut1/Chip-DAC-NXP-1037-A220-Key.der"),
                   "--pai", os.path.join(NXP, "pai/Chip-PAI-NXP-1037-A220-Cert.der"),
                   "--paa", os.path.join(NXP, "paa/Chip-PAA-NXP-Cert.der"), "--vendor_id", "0x1037", "--product_id", "0xA220")
    assert r.code == 0, r.stdout


def test_known_chain_fields_U():
    paa = attestation.load_cert(open(os.path.join(TEST, "Chip-Test-PAA-FFF1-Cert.der"), "rb").read(), "paa")
    pai = attestation.load_cert(open(os.path.join(TEST, "Chip-Test-PAI-FFF1-8000-Cert.der"), "rb").read(), "pai")
    dac = attestation.load_cert(open(os.path.join(TEST, "Chip-Test-DAC-FFF1-8000-0000-Cert.der"), "rb").read(), "dac")
    assert (paa.serial, pai.serial, dac.serial) == (0x4EA8E83182D41C1C, 0x3E6CE6509AD840CD, 0x1BD63818F144A797)
    assert paa.skid.hex() == "6afd22771f511fecbf1641976710dcdc31a1717e" == pai.akid.hex()
    assert pai.skid.hex() == "af42b7094debd515ec6ecf33b81115225f325288" == dac.akid.hex()
    assert dac.skid.hex() == "e57088f448e6ff9fe2009744528bf9ec082fc11f"
    assert (len(paa.der), len(pai.der), len(dac.der)) == (449, 472, 493)
    assert attestation.matter_ids(dac) == (0xFFF1, 0x8000) and attestation.matter_ids(paa) == (0xFFF1, None)
    key_scalar = 0x21F2E3E420C0701734810469B6BAD15CF3067822C9A4A596C186FA9BEF153FA1
    report = attestation.check_chain(dac, pai, paa, key_scalar, 0xFFF1, 0x8000)
    assert report.errors == [] and report.deviations == []


def _issue_chain(vid=0xFFF1, pid=0x8000, valid_from=START, lifetime=None):
    paa_key = issuing.generate_p256_key()
    paa = issuing.issue_certificate("paa", "PAA", paa_key.public_key(), paa_key, vid=vid, valid_from=valid_from,
                                        lifetime_days=lifetime)
    pai_key = issuing.generate_p256_key()
    pai = issuing.issue_certificate("pai", "PAI", pai_key.public_key(), paa_key, paa, vid=vid,
                                        valid_from=valid_from, lifetime_days=lifetime)
    dac_key = issuing.generate_p256_key()
    dac = issuing.issue_certificate("dac", "DAC", dac_key.public_key(), pai_key, pai, vid=vid, pid=pid,
                                        valid_from=valid_from, lifetime_days=lifetime)
    return (paa, paa_key), (pai, pai_key), (dac, dac_key)


def test_issued_certificates_follow_the_profile_field_by_field():
    (paa, _), (pai, _), (dac, dac_key) = _issue_chain(0xFFF1, 0x8000)
    expected = {
        "paa": (paa, "30060101ff020101", "03020106"),
        "pai": (pai, "30060101ff020100", "03020106"),
        "dac": (dac, "3000", "03020780"),
    }
    for kind, (cert, bc_der, ku_der) in expected.items():
        assert cert.version == x509.Version.v3
        assert cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.2"
        assert 0 < cert.serial_number < 2**63
        exts = list(cert.extensions)
        assert [e.oid.dotted_string for e in exts] == ["2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"]
        assert [e.critical for e in exts] == [True, True, False, False]
        assert exts[0].value.public_bytes().hex() == bc_der
        assert exts[1].value.public_bytes().hex() == ku_der
        point = cert.public_key().public_numbers()
        raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        assert exts[2].value.digest == hashlib.sha1(raw).digest()
        assert len(issuing.der(cert)) <= 600
        rdns = list(cert.subject.rdns)
        assert all(len(r) == 1 for r in rdns)
        for attr in cert.subject:
            if attr.oid.dotted_string.startswith("1.3.6.1.4.1.37244"):
                assert attr._type.name == "UTF8String" and attr.value == attr.value.upper() and len(attr.value) == 4
    assert dac.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
        pai.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert [a.value for a in dac.subject] == ["DAC", "FFF1", "8000"]
    assert [a.value for a in paa.subject] == ["PAA", "FFF1"]
    assert dac.not_valid_before_utc == START and dac.not_valid_after_utc == attestation.NO_EXPIRY
    # GeneralizedTime for 9999, UTCTime for 2024
    raw = issuing.der(dac)
    assert b"\x18\x0f99991231235959Z" in raw and b"\x17\x0d240101000000Z" in raw
    report = attestation.check_chain(*(parsed(x) for x in ((dac, None), (pai, None), (paa, None))), dac_key, 0xFFF1, 0x8000)
    assert report.errors == [] and report.deviations == []


def test_lifetime_and_time_encoding():
    (_, _), (_, _), (dac, _) = _issue_chain(valid_from=datetime.datetime(2049, 12, 31, tzinfo=UTC), lifetime=2)
    assert dac.not_valid_after_utc == datetime.datetime(2050, 1, 1, 23, 59, 59, tzinfo=UTC)
    raw = issuing.der(dac)
    assert b"\x17\x0d491231000000Z" in raw and b"\x18\x0f20500101235959Z" in raw


def _check(paa, pai, dac, key=None, vid=0xFFF1, pid=0x8000, date=None):
    return attestation.check_chain(parsed(dac), parsed(pai), parsed(paa) if paa else None,
                                   key if key is not None else dac[1], vid, pid, date)


def test_errors_break_attestation():
    paa, pai, dac = chain()
    assert _check(paa, pai, dac).errors == []
    # swapped key
    assert "DAC key does not match" in _check(paa, pai, dac, key=ec.generate_private_key(ec.SECP256R1())).errors[0]
    # DAC signed by another PAI
    other_pai = make("pai", 0xFFF1, issuer=paa)
    stranger = make("dac", 0xFFF1, 0x8000, issuer=other_pai)
    assert any("not signed by the PAI" in e for e in _check(paa, pai, stranger).errors)
    # PAI signed by another PAA
    assert any("not signed by the PAA" in e for e in _check(make("paa", 0xFFF1), pai, dac).errors)
    # VID / PID mismatch with the factory data
    assert any("vendor_id 0xFFF2 differs" in e for e in _check(paa, pai, dac, vid=0xFFF2).errors)
    assert any("product_id 0x8001 differs" in e for e in _check(paa, pai, dac, pid=0x8001).errors)
    # VID mismatch between DAC and PAI, PID mismatch with a PAI that has a PID
    _, pai2, dac2 = chain(dac_vid=0xFFF2)
    assert any("differs from the PAI vendor ID" in e for e in _check(None, pai2, dac2, vid=None).errors)
    _, pai3, dac3 = chain(pai_pid=0x8001)
    assert any("differs from the PAI product ID" in e for e in _check(None, pai3, dac3).errors)
    # expired DAC
    _, pai4, dac4 = chain(not_before=datetime.datetime(2020, 1, 1, tzinfo=UTC),
                          not_after=datetime.datetime(2021, 1, 1, tzinfo=UTC))
    assert any("DAC: expired on 2021-01-01" in e for e in _check(None, pai4, dac4).errors)
    # wrong key types
    _, pai5, dac5 = chain(rsa=True)
    assert any("not EC" in e for e in attestation.check_chain(parsed(dac5), parsed(pai5)).errors)
    _, pai6, dac6 = chain(curve=ec.SECP384R1())
    assert any("not P-256" in e for e in attestation.check_chain(parsed(dac6), parsed(pai6)).errors)


def test_deviations_are_warnings():
    def devs(**kw):
        paa, pai, dac = chain(**kw)
        report = _check(paa, pai, dac, vid=None, pid=None)
        assert report.errors == []
        return report.deviations

    assert devs() == []
    assert devs(ku=x509.KeyUsage(True, False, True, False, False, False, False, False, False)) == [
        "DAC: keyUsage has keyEncipherment; a DAC allows only digitalSignature"]
    assert devs(skid=False) == ["DAC: subjectKeyIdentifier extension missing"]
    assert devs(lower=True) == ["DAC: VID 'fff1' must be exactly 4 uppercase hex digits",
                                "PAI: VID 'fff1' must be exactly 4 uppercase hex digits",
                                "PAA: VID 'fff1' must be exactly 4 uppercase hex digits"]
    assert devs(bc=None) == ["DAC: basicConstraints extension missing"]
    # PAI with pathLen 1 (the nRF reference's own test PAI)
    paa = make("paa", 0xFFF1)
    pai = make("pai", 0xFFF1, issuer=paa, bc=x509.BasicConstraints(ca=True, path_length=1))
    dac = make("dac", 0xFFF1, 0x8000, issuer=pai)
    assert _check(paa, pai, dac).deviations == ["PAI: basicConstraints pathLenConstraint is 1, must be 0"]


def test_what_openssl_or_every_commissioner_rejects_is_an_error():
    """A DAC that is a CA, or one without an authorityKeyIdentifier (openssl verify -x509_strict refuses it)."""
    def errors(**kw):
        paa, pai, dac = chain(**kw)
        return _check(paa, pai, dac, vid=None, pid=None).errors

    assert errors(bc=x509.BasicConstraints(ca=True, path_length=None)) == [
        "DAC: basicConstraints has cA=TRUE; a DAC must not be a CA"]
    assert errors(akid=False) == ["DAC: authorityKeyIdentifier extension missing"]
    # DAC starting after the manufacturing date is a note
    paa, pai, dac = chain()
    assert _check(paa, pai, dac, date="2023-06-01").notes == [
        "DAC: not valid until 2024-01-01 00:00:00 UTC, after the manufacturing date 2023-06-01",
        "PAI: not valid until 2024-01-01 00:00:00 UTC, after the manufacturing date 2023-06-01",
        "PAA: not valid until 2024-01-01 00:00:00 UTC, after the manufacturing date 2023-06-01"]
    # but one that expired before it is an error
    assert _check(paa, pai, dac, date="2024-06-01").errors == []


def test_generator_strict_turns_deviations_into_errors(tmp_path, nrf_ref):
    from conftest import ref_args

    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "fd")))
    assert r.code == 0 and "PAI: basicConstraints pathLenConstraint is 1, must be 0" in r.stderr
    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "fd2"), strict=True))
    assert_clean_error(r, 2, "pathLenConstraint is 1", "--strict")
    assert not os.path.exists(tmp_path / "fd2.json")


def test_certs_cli_issue_and_verify(tmp_path):
    d = tmp_path
    assert run_script("certs", "paa", "--cn", "My PAA", "--out", str(d / "PAA"), "--valid_from", "2024-01-01").code == 0
    r = run_script("certs", "pai", "--cn", "My PAI", "--vendor_id", "0xFFF1", "--ca_cert", str(d / "PAA-Cert.pem"),
                   "--ca_key", str(d / "PAA-Key.pem"), "--out", str(d / "PAI"), "--valid_from", "2024-01-01")
    assert r.code == 0, r.stderr
    r = run_script("certs", "dac", "--cn", "My DAC", "--vendor-id", "0xFFF1", "--product-id", "0x8000",
                   "--ca_cert", str(d / "PAI-Cert.der"), "--ca_key", str(d / "PAI-Key.der"), "--out", str(d / "DAC"),
                   "--valid_from", "2024-02-01 10:00:00", "--lifetime", "36500", "--key_password", "s3cret")
    assert r.code == 0, r.stderr
    assert (d / "DAC-Key.der").stat().st_mode & 0o777 == 0o600
    dac = x509.load_pem_x509_certificate((d / "DAC-Cert.pem").read_bytes())
    assert dac.not_valid_before_utc == datetime.datetime(2024, 2, 1, 10, tzinfo=UTC)
    assert dac.not_valid_after_utc == datetime.datetime(2124, 1, 8, 9, 59, 59, tzinfo=UTC)
    r = run_script("certs", "verify", "--dac", str(d / "DAC-Cert.der"), "--dac_key", str(d / "DAC-Key.pem"),
                   "--dac_key_password", "s3cret", "--pai", str(d / "PAI-Cert.pem"), "--paa", str(d / "PAA-Cert.der"),
                   "--strict")
    assert r.code == 0, r.stdout
    # wrong password, malformed inputs, swapped key: one clear line each
    assert_clean_error(run_script("certs", "verify", "--dac", str(d / "DAC-Cert.der"), "--dac_key", str(d / "DAC-Key.pem"),
                                  "--dac_key_password", "nope", "--pai", str(d / "PAI-Cert.pem")), 2, "wrong password")
    (d / "bad.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    assert_clean_error(run_script("certs", "verify", "--dac", str(d / "bad.pem"), "--pai", str(d / "PAI-Cert.pem")),
                       2, "--dac")
    (d / "bad.der").write_bytes(b"\x30\x82\x01")
    assert_clean_error(run_script("certs", "verify", "--dac", str(d / "bad.der"), "--pai", str(d / "PAI-Cert.pem")),
                       2, "--dac")
    r = run_script("certs", "verify", "--dac", str(d / "DAC-Cert.der"), "--dac_key", str(d / "PAI-Key.pem"),
                   "--pai", str(d / "PAI-Cert.pem"))
    assert r.code == 2 and "error: DAC key does not match" in r.stdout
    # a DAC cannot start before its PAI
    assert_clean_error(run_script("certs", "dac", "--vendor_id", "0xFFF1", "--product_id", "1", "--ca_cert",
                                  str(d / "PAI-Cert.der"), "--ca_key", str(d / "PAI-Key.der"), "--out", str(d / "X"),
                                  "--valid_from", "2023-01-01"), 2, "before the CA's notBefore")
    assert not (d / "X-Cert.der").exists()


def test_certs_cli_rejects_non_p256_keys(tmp_path):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    k2 = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.der").write_bytes(k2.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption()))
    assert_clean_error(run_script("certs", "paa", "--key", str(tmp_path / "rsa.pem"), "--out", str(tmp_path / "A")),
                       2, "RSA", "P-256")
    assert_clean_error(run_script("certs", "paa", "--key", str(tmp_path / "p384.der"), "--out", str(tmp_path / "B")),
                       2, "secp384r1", "P-256")


def test_certs_generate_nxp_file_names(tmp_path):
    from conftest import CREDS as C

    r = run_script("certs", "generate", "--chip_cert_path", "/nonexistent/chip-cert", "-o", str(tmp_path),
                   "--vendor_id", "0x1037", "--product_id", "0xA220", "--vendor_name", "NXP", "--product_name", "Demo",
                   "--gen_cd", "--device_type", "0x100",
                   "--cd_signing_cert", os.path.join(C, "test-cd", "Chip-Test-CD-Signing-Cert.pem"),
                   "--cd_signing_key", os.path.join(C, "test-cd", "Chip-Test-CD-Signing-Key.pem"))
    assert r.code == 0, r.stderr
    names = sorted(os.listdir(tmp_path))
    for base in ("Chip-PAA-NXP", "Chip-PAI-NXP-1037-A220", "Chip-DAC-NXP-1037-A220"):
        for suffix in ("-Cert.der", "-Cert.pem", "-Key.der", "-Key.pem"):
            assert base + suffix in names
    assert "Chip-Test-CD-1037-A220.der" in names
    dac = x509.load_der_x509_certificate((tmp_path / "Chip-DAC-NXP-1037-A220-Cert.der").read_bytes())
    assert dac.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "NXP Demo"
    assert dac.not_valid_before_utc == datetime.datetime(2023, 1, 1, tzinfo=UTC)
    assert dac.not_valid_after_utc == datetime.datetime(2042, 12, 31, 23, 59, 59, tzinfo=UTC)  # + 7305 days - 1 s
    r = run_script("certs", "verify", "--dac", str(tmp_path / "Chip-DAC-NXP-1037-A220-Cert.der"),
                   "--dac_key", str(tmp_path / "Chip-DAC-NXP-1037-A220-Key.der"),
                   "--pai", str(tmp_path / "Chip-PAI-NXP-1037-A220-Cert.der"), "--paa", str(tmp_path / "Chip-PAA-NXP-Cert.der"),
                   "--cd", str(tmp_path / "Chip-Test-CD-1037-A220.der"),
                   "--cd_signing_cert", os.path.join(C, "test-cd", "Chip-Test-CD-Signing-Cert.pem"), "--strict")
    assert r.code == 0, r.stdout


def test_load_cert_messages():
    with pytest.raises(InvalidInput, match="not a readable X.509 certificate"):
        attestation.load_cert(b"\x30\x03\x02\x01\x01", "x")


def _fake_sdk(root):
    """A directory laid out like a Matter SDK checkout, holding the public test PAA and CD signer."""
    import shutil

    att = root / "credentials" / "test" / "attestation"
    cdd = root / "credentials" / "test" / "certification-declaration"
    att.mkdir(parents=True)
    cdd.mkdir(parents=True)
    for suffix in ("Cert.pem", "Key.pem"):
        shutil.copy(os.path.join(TEST, f"Chip-Test-PAA-NoVID-{suffix}"), att / f"Chip-Test-PAA-NoVID-{suffix}")
        shutil.copy(os.path.join(CREDS, "test-cd", f"Chip-Test-CD-Signing-{suffix}"), cdd / f"Chip-Test-CD-Signing-{suffix}")
    return root


def test_gen_certs_uses_the_sdk_test_paa_and_cd_signer_when_found(tmp_path):
    from conftest import ref_args

    sdk = _fake_sdk(tmp_path / "sdk")
    work = tmp_path / "work"
    work.mkdir()
    args = ref_args("fd", gen_certs=True, gen_cd=True, dac_cert=None, dac_key=None, pai_cert=None)
    r = run_script("generate_factory_data.py", *args, cwd=str(work), env={"CHIP_ROOT": str(sdk)})
    assert r.code == 0, r.stderr
    names = set(os.listdir(work))
    assert "PAA_cert.der" not in names and "CD_signing_cert.der" not in names  # nothing self-made
    assert {"fd.json", "PAI_cert.der", "DAC_cert.der", "DAC_key.der", "CD.der"} <= names  # `-o fd`: files in `.`
    paa = attestation.load_cert(open(os.path.join(TEST, "Chip-Test-PAA-NoVID-Cert.der"), "rb").read(), "paa")
    pai = attestation.load_cert((work / "PAI_cert.der").read_bytes(), "pai")
    dac = attestation.load_cert((work / "DAC_cert.der").read_bytes(), "dac")
    report = attestation.check_chain(dac, pai, paa, None, 0x127F, 0xABCD, "2022-07-20")
    assert report.errors == [] and report.deviations == []
    assert pai.not_before >= paa.not_before and dac.not_before == pai.not_before
    assert str(dac.not_before.date()) == "2022-07-20" and dac.not_after == attestation.NO_EXPIRY
    from matter_factory_data.crypto import cd

    parsed_cd = cd.parse((work / "CD.der").read_bytes())
    cd.verify(parsed_cd, attestation.load_cert(open(os.path.join(CREDS, "test-cd", "Chip-Test-CD-Signing-Cert.pem"), "rb").read(), "s"))
    c = parsed_cd.content
    assert (c.vendor_id, c.product_ids, c.device_type_id, c.certificate_id, c.security_level, c.security_information,
            c.version_number, c.certification_type) == (0x127F, [0xABCD], 0, "FFFFFFFFFFFFFFFFFFF", 0, 0, 0xFFFF, 1)


def test_gen_certs_without_sdk_writes_its_test_paa_with_a_warning(tmp_path):
    from conftest import ref_args

    args = ref_args(str(tmp_path / "out" / "fd"), gen_certs=True, dac_cert=None, dac_key=None, pai_cert=None)
    (tmp_path / "out").mkdir()
    r = run_script("generate_factory_data.py", *args)
    assert r.code == 0, r.stderr
    assert "generated a test PAA" in r.stderr
    assert (tmp_path / "out" / "PAA_cert.der").exists() and (tmp_path / "out" / "PAA_key.der").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("cn,template_cn", [("Acme Light", None), ("0b3a6f0e-3c1e-4d5e-9f00-123456789abc", "x")])
def test_dac_template_writes_the_builders_bytes(cn, template_cn):
    """The batch engines issue DACs by filling a DER template; the to-be-signed bytes must be exactly those
    of cryptography's certificate builder, and the signature must verify under the PAI."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    _, (pai, pai_key), _ = _issue_chain()
    pai_der = issuing.der(pai)
    dac_key = issuing.generate_p256_key()
    point = attestation.public_point(dac_key.private_numbers().private_value)
    not_before, not_after = attestation.validity(START, 3650)
    template = dac_template.DacTemplate(pai_der, pai_key, 0xFFF1, 0x8000, template_cn or cn, not_before, not_after)
    for serial in (1, 0x7F, 0x80, 0x1234_5678_9ABC_DEF0 & (2**63 - 1)):
        ours = x509.load_der_x509_certificate(
            template.issue(serial, point, deterministic=True, cn=cn if template_cn else None))
        ref = issuing.issue_certificate("dac", cn, dac_key.public_key(), pai_key, pai, vid=0xFFF1, pid=0x8000,
                                            valid_from=START, lifetime_days=3650, serial=serial)
        assert ours.tbs_certificate_bytes == ref.tbs_certificate_bytes
        pai.public_key().verify(ours.signature, ours.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("scalar", [1, 12345, 2**255 + 17, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632550])
def test_key_encodings_from_a_scalar_match_cryptography(scalar):
    from cryptography.hazmat.primitives import serialization as s

    key = ec.derive_private_key(scalar, ec.SECP256R1())
    assert dac_template.key_der_from_scalar(scalar) == key.private_bytes(
        s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption())
    assert dac_template.pkcs8_der_from_scalar(scalar) == key.private_bytes(
        s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
