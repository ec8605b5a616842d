"""Certification Declarations: TLV byte-exact vectors, envelope reconstruction, verification, negatives
(spec/crypto.md §4)."""

import os

import pytest

from matter_factory_data.crypto import attestation, cd
from matter_factory_data.errors import InvalidInput
from conftest import CREDS, assert_clean_error, run_script

TEST_CD = os.path.join(CREDS, "test-cd")
SIGNER_CERT = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Cert.pem")
SIGNER_KEY = os.path.join(TEST_CD, "Chip-Test-CD-Signing-Key.pem")
TEST_SKID = "62fa823359acfaa9963e1cfa140addf504f37160"

V01_TLV = "152400012501f1ff360205008018250334122c04135a494732303134315a423333303030312d32342405002406002507942624080018"
V01_CMS = (
    "3081e806092a864886f70d010702a081da3081d7020103310d300b0609608648"
    "016503040201304506092a864886f70d010701a0380436152400012501f1ff36"
    "0205008018250334122c04135a494732303134315a423333303030312d323424"
    "05002406002507942624080018317c307a020103801462fa823359acfaa9963e"
    "1cfa140addf504f37160300b0609608648016503040201300a06082a8648ce3d"
    "04030204463044022043a63f2b943df33c38b3e02fcaa75fe3532aebbf5e63f5"
    "bbdbc0b1f01d3c4f6002204c1abf5f1807b81894b1576c47e4724e4d966c612e"
    "d3fa25c118c3f2b3f90369"
)
V02_TLV = ("152400012501f2ff360205018005028018250334122c04135a494732303134325a423333303030322d3234240500240600250794"
           "262408002509f1ff250a008018")
V02_CMS = (
    "3081f506092a864886f70d010702a081e73081e4020103310d300b0609608648"
    "016503040201305006092a864886f70d010701a0430441152400012501f2ff36"
    "0205018005028018250334122c04135a494732303134325a423333303030322d"
    "3234240500240600250794262408002509f1ff250a008018317e307c02010380"
    "1462fa823359acfaa9963e1cfa140addf504f37160300b060960864801650304"
    "0201300a06082a8648ce3d04030204483046022100926296f7578158be7c4593"
    "88336ca7383766c9eedd9855cbda6f4cf6bdf43211022100e0dbf4a2bcec4ea2"
    "74baf0dea208b3365c6ed544086d101afdaf079a2c23e0de"
)
VEX_CMS = (
    "3082021906092a864886f70d010702a082020a30820206020103310d300b0609"
    "6086480165030402013082017106092a864886f70d010701a08201620482015e"
    "152400012501f1ff360205008005018005028005038005048005058005068005"
    "0780050880050980050a80050b80050c80050d80050e80050f80051080051180"
    "051280051380051480051580051680051780051880051980051a80051b80051c"
    "80051d80051e80051f8005208005218005228005238005248005258005268005"
    "2780052880052980052a80052b80052c80052d80052e80052f80053080053180"
    "053280053380053480053580053680053780053880053980053a80053b80053c"
    "80053d80053e80053f8005408005418005428005438005448005458005468005"
    "4780054880054980054a80054b80054c80054d80054e80054f80055080055180"
    "055280055380055480055580055680055780055880055980055a80055b80055c"
    "80055d80055e80055f80056080056180056280056380182403162c04135a4947"
    "32303134325a423333303030332d32342405002406002507942624080018317d"
    "307b020103801462fa823359acfaa9963e1cfa140addf504f37160300b060960"
    "8648016503040201300a06082a8648ce3d04030204473045022024e5d1f47a7d"
    "7b0d206a26ef699b7c9757b72d469089de3192e678c745e7f60c022100f8aa2f"
    "a711fcb79b97e397ceda667bae464e2bd3ffdfc3cced7aa8ca5f4c1a7c"
)
VECTORS = {
    "01": (cd.CDContent(0xFFF1, [0x8000], 0x1234, "ZIG20141ZB330001-24", version_number=0x2694), V01_TLV, V01_CMS),
    "02": (cd.CDContent(0xFFF2, [0x8001, 0x8002], 0x1234, "ZIG20142ZB330002-24", version_number=0x2694,
                        dac_origin_vendor_id=0xFFF1, dac_origin_product_id=0x8000), V02_TLV, V02_CMS),
    "EX": (cd.CDContent(0xFFF1, list(range(0x8000, 0x8064)), 0x16, "ZIG20142ZB330003-24", version_number=0x2694),
           None, VEX_CMS),
}


@pytest.fixture(scope="module")
def signer():
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    with open(SIGNER_CERT, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(SIGNER_KEY, "rb") as f:
        key = load_pem_private_key(f.read(), None)
    return cert, key


@pytest.mark.parametrize("name", VECTORS)
def test_vectors_U(name, signer):
    content, tlv_hex, cms_hex = VECTORS[name]
    cms = bytes.fromhex(cms_hex)
    parsed = cd.parse(cms)
    assert parsed.signer_skid.hex() == TEST_SKID
    assert parsed.content == content
    if tlv_hex:
        assert content.to_tlv().hex() == tlv_hex
    assert content.to_tlv() == parsed.content_tlv
    # the envelope rebuilt from (TLV, SKID, signature) is byte-identical
    assert cd.envelope(parsed.content_tlv, parsed.signer_skid, parsed.signature) == cms
    cd.verify(parsed, attestation.load_cert(open(SIGNER_CERT, "rb").read(), "signer"))
    cd.verify(parsed, signer[0])


def test_any_modified_byte_fails(signer):
    cms = bytearray(bytes.fromhex(V01_CMS))
    signer_cert = attestation.load_cert(open(SIGNER_CERT, "rb").read(), "signer")
    for i in range(len(cms)):
        bad = bytearray(cms)
        bad[i] ^= 0x01
        with pytest.raises(InvalidInput):
            cd.verify(cd.parse(bytes(bad)), signer_cert)


def test_signed_cd_verifies_and_matches_envelope(signer):
    content = cd.CDContent(0xFFF1, [0x8000], 0, "FFFFFFFFFFFFFFFFFFF", version_number=0xFFFF, certification_type=1)
    der = cd.sign(content, *signer)
    parsed = cd.parse(der)
    cd.verify(parsed, signer[0])
    assert parsed.content == content
    assert der == cd.envelope(content.to_tlv(), bytes.fromhex(TEST_SKID), parsed.signature)


def test_decoder_negative_vectors_U():
    bad_vid = bytes.fromhex(V01_TLV.replace("2501f1ff", "2601f1ffffff"))
    with pytest.raises(InvalidInput, match="does not fit"):
        cd.decode_content(bad_vid)
    # tags 2 and 3 swapped
    swapped = bytes.fromhex("152400012501f1ff25033412360205008018" + V01_TLV[V01_TLV.index("2c0413"):])
    with pytest.raises(InvalidInput, match="unexpected TLV element|expected tag 2"):
        cd.decode_content(swapped)


@pytest.mark.parametrize("change,fragment", [
    ({"vendor_id": 0}, "vendor_id"), ({"product_ids": []}, "product_id_array"),
    ({"product_ids": list(range(1, 102))}, "product_id_array"), ({"product_ids": [0]}, "product_id"),
    ({"certificate_id": "short"}, "certificate_id"), ({"certification_type": 3}, "reserved"),
    ({"dac_origin_vendor_id": 1}, "go together"), ({"format_version": 2}, "must be 1"),
    ({"authorized_paa_list": [b"x" * 19]}, "20-byte"), ({"authorized_paa_list": [b"x" * 20] * 11}, "at most 10"),
])
def test_content_validation(change, fragment):
    args = dict(vendor_id=0xFFF1, product_ids=[0x8000], device_type_id=0, certificate_id="FFFFFFFFFFFFFFFFFFF")
    args.update(change)
    with pytest.raises(InvalidInput, match=fragment):
        cd.CDContent(**args).to_tlv()


def test_authorized_paa_list_roundtrip(signer):
    content = cd.CDContent(0xFFF1, [0x8000], 0x100, "ZIG20142ZB330003-24", authorized_paa_list=[bytes(range(20))])
    parsed = cd.parse(cd.sign(content, *signer))
    assert parsed.content.authorized_paa_list == [bytes(range(20))]


def test_fixture_cds_decode_as_named():
    for name, pids, origin in (("Chip-Test-CD-FFF2-8001.der", [0x8001], None),
                               ("Chip-Test-CD-FFF2-8001-8002-WithDACOrigin.der", [0x8001, 0x8002], (0xFFF1, 0x8000))):
        r = run_script("cd", "inspect", os.path.join(TEST_CD, name), "--signing_cert", SIGNER_CERT, "--json")
        assert r.code == 0, r.stderr
        import json

        d = json.loads(r.stdout)
        assert d["vendor_id"] == "0xFFF2" and d["product_ids"] == [f"0x{p:04X}" for p in pids]
        assert d["signature_verified"] is True and d["device_type_id"] == "0x1234" and d["version_number"] == "0x9876"
        assert d["certification_type"] == 0
        if origin:
            assert (d["dac_origin_vendor_id"], d["dac_origin_product_id"]) == ("0xFFF1", "0x8000")


def test_cd_cli_generate_and_inspect(tmp_path):
    out = tmp_path / "CD.der"
    r = run_script("cd", "generate", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--product_id", "0x8001",
                   "--device_type", "0x100", "--certificate_id", "ZIG20142ZB330003-24", "--certification_type", "0",
                   "--signing_cert", SIGNER_CERT, "--signing_key", SIGNER_KEY, "--out", str(out))
    assert r.code == 0, r.stderr
    r = run_script("cd", "inspect", str(out), "--signing_cert", SIGNER_CERT)
    assert r.code == 0 and "signature_verified     True" in r.stdout and "0x8001" in r.stdout
    other = os.path.join(CREDS, "test-attestation", "Chip-Test-PAA-FFF1-Cert.pem")
    r = run_script("cd", "inspect", str(out), "--signing_cert", other)
    assert r.code == 2 and "does not name the given signing certificate" in r.stdout
    assert_clean_error(run_script("cd", "generate", "--vendor_id", "1", "--product_id", "1", "--certificate_id", "x",
                                  "--signing_cert", SIGNER_CERT, "--signing_key", SIGNER_KEY, "--out", str(tmp_path / "y")),
                       2, "certificate_id", "19 characters")
    assert not (tmp_path / "y").exists()
