"""QR and manual pairing codes, Base38 and Verhoeff (spec/crypto.md §2, spec/nrfconnect.md §4.3)."""

import pytest

from matter_factory_data.codes import onboarding as ob
from matter_factory_data.errors import InvalidInput

from conftest import assert_clean_error, run_script

BASE38 = [  # [U] src/setup_payload/tests/TestQRCode.cpp
    (bytes([0x0A]), "A0"), (bytes([0x0A, 0x0A]), "OT10"), (bytes([0x0A, 0x0A, 0x0A]), "-N.B0"),
    (bytes([10, 10, 0]), "OT100"), (bytes([10, 10, 40]), "Y6V91"), (bytes([10, 10, 41]), "KL0B1"),
    (bytes([10, 10, 255]), "Q-M08"), (bytes([35]), "Z0"), (bytes([255, 0]), "R600"), (bytes([46, 0, 0]), "81000"),
    (bytes([255]), "R6"), (bytes([255, 255]), "NE71"), (bytes([255, 255, 255]), "PLS18"),
    (b"Hello World!", "KKHF3W2S013OPM3EJX11"), (b"", ""),
]


@pytest.mark.parametrize("raw,text", BASE38)
def test_base38_vectors_U(raw, text):
    assert ob.base38_encode(raw) == text
    assert ob.base38_decode(text) == raw


def test_base38_decode_vectors_U():
    assert ob.base38_decode("S600") == bytes([0, 1])
    assert ob.base38_decode("OE710") == bytes([0, 0, 1])


@pytest.mark.parametrize("text,fragment", [
    ("S6", "does not fit"), ("OE71", "does not fit"), ("QLS18", "does not fit"),
    ("A", "invalid Base38 length"), ("ABC", "invalid Base38 length"), ("A0a", "invalid Base38 length"),
    ("a0", "not in the Base38 alphabet"), ("A0!", "invalid Base38 length"),
])
def test_base38_decode_errors(text, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        ob.base38_decode(text)


def test_verhoeff_C():
    assert ob.verhoeff_check_digit("1") == "5"
    assert ob.verhoeff_check_digit("0") == "4"


# (qr, manual, discriminator, passcode, discovery, flow, vid, pid) -- [U] test_matter_setup_payload.py
QR_TABLE = [
    ("MT:00000CQM00KA0648G00", "34970112332", 3840, 20202021, 4, 0, 0, 0),
    ("MT:-8VJ0OMV172PX813210", "32140830464", 3431, 49910688, 2, 0, 0x1317, 0x0002),
    ("MT:0A.T0RTM00Y0OJ0.510", "00210433428", 80, 54757432, 4, 0, 0x2345, 0x1023),
    ("MT:KSNK4SIC13-JPR4UY00", "702871264504387000187", 3091, 43338551, 4, 2, 0x1123, 0x0012),
    ("MT:A3L90ARR15G6N57Y900", "745492075300001000013", 3781, 12349876, 4, 1, 1, 1),
    ("MT:KSNK4M5113-JPR4UY00", "702871264504387000187", 3091, 43338551, 2, 2, 0x1123, 0x0012),
    ("MT:EPX0482F26DAVY09R10", "403732495800069000166", 174, 81235604, 7, 1, 0x45, 0x10),
    ("MT:MZWA6G6026O2XP0II00", "619156140465523329207", 2310, 23005908, 4, 2, 0xFFF3, 0x8098),
    # [U] example-app defaults; [C] the nRF reference test's inputs
    ("MT:Y.K9042C00KA0648G00", "34970112332", 3840, 20202021, 2, 0, 0xFFF1, 0x8000),
    ("MT:KAYA3EYF15ND8B1OA00", "35442608082", 0xFED, 13243546, 2, 0, 0x127F, 0xABCD),
]


@pytest.mark.parametrize("qr,manual,disc,passcode,disco,flow,vid,pid", QR_TABLE)
def test_qr_and_manual_vectors(qr, manual, disc, passcode, disco, flow, vid, pid):
    p = ob.SetupPayload(vid, pid, disc, passcode, flow=flow, rendezvous=disco)
    assert ob.qr_code(p) == qr
    assert ob.manual_code(p) == manual
    back = ob.parse_qr(qr)
    assert (back.vendor_id, back.product_id, back.discriminator, back.passcode, back.flow, back.rendezvous) == (
        vid, pid, disc, passcode, flow, disco)
    m = ob.parse_manual(manual)
    assert m.passcode == passcode and m.discriminator == disc >> 8
    if len(manual) == 21:
        assert (m.vendor_id, m.product_id) == (vid, pid)


def test_packed_bytes_of_default_payload_U():
    p = ob.SetupPayload(0xFFF1, 0x8000, 3840, 20202021, flow=0, rendezvous=2)
    assert ob.base38_decode(ob.qr_code(p)[3:]).hex() == "88ff07004400e04b846802"


def test_default_cpp_payload_U_and_long_manual_C():
    assert ob.qr_code(ob.SetupPayload(12, 1, 128, 2048, rendezvous=1)) == "MT:M5L90MP500K64J00000"
    assert ob.manual_code(ob.SetupPayload(12, 1, 128, 2048, rendezvous=1)) == "00204800002"
    assert ob.manual_code(ob.SetupPayload(0xFFF1, 0x8000, 3840, 20202021, flow=1)) == "749701123365521327687"
    assert ob.manual_code(ob.SetupPayload(0xFFF1, 0x8000, 3840, 20202021, flow=2)) == "749701123365521327687"


def test_qr_with_tlv_P():
    p = ob.parse_qr("MT:-24J0AFN00KA064IJ3P0WISA0DK5N1K8SQ1RYCU1O0")
    assert (p.vendor_id, p.product_id, p.rendezvous, p.discriminator, p.passcode) == (0xFFF1, 0x8001, 4, 3840, 20202021)
    assert p.tlv.hex() == "152c000931323334353637383918"
    assert p.extra["optional_data"] == {"serial_number": "123456789"}
    darwin = ob.parse_qr("MT:M5L90MP500K64J0A33P0SET70.QT52B.E23-WZE0WISA0DK5N1K8SQ1RYCU1O0")
    assert darwin.tlv.hex() == "152c82066d794461746120830c2c000931323334353637383918"
    assert darwin.extra["optional_data"] == {"vendor_0x82": "myData", "vendor_0x83": 12, "serial_number": "123456789"}


MANUAL = [  # data digits [U] -> full code [C]
    ("24129507533", 12345679, 0xA, 0, 0),
    ("641295075300000000008", 12345679, 0xA, 0, 0),
    ("641295075300001000017", 12345679, 0xA, 1, 1),
    ("641295075345367145262", 12345679, 0xA, 45367, 14526),
    ("529276236304562000322", 38728284, 0x5, 4562, 32),
    ("400001000000001000015", 1, 0, 1, 1),
    ("00000100007", 1, 0, 0, 0),
]


@pytest.mark.parametrize("code,passcode,short,vid,pid", MANUAL)
def test_manual_vectors(code, passcode, short, vid, pid):
    p = ob.parse_manual(code)
    assert (p.passcode, p.discriminator, p.vendor_id, p.product_id) == (passcode, short, vid, pid)
    assert ob.verhoeff_valid(code)
    # and the producer makes the same code from the same fields
    disc = short << 8
    flow = 2 if len(code) == 21 else 0
    assert ob.manual_code(ob.SetupPayload(vid or (1 if flow else 0), pid or (1 if flow else 0), disc, passcode,
                                          flow=flow))[:10] == code[:10]


@pytest.mark.parametrize("code,fragment", [
    ("23276800006", "passcode is 0"),
    ("02684354589", "check digit"),
    ("35191106788", "not a valid setup passcode"),
    ("23610875350", "not a valid setup passcode"),
    ("765535819165535655356", "not a valid setup passcode"),
    ("8" + "0000000000", "check digit"),
    ("1234", "check digit"),
    ("abc", "11 or 21 decimal digits"),
])
def test_manual_parse_errors(code, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        ob.parse_manual(code)


def test_manual_first_digit_8_or_9_rejected():
    digits = "8000010000"
    code = digits + ob.verhoeff_check_digit(digits)
    with pytest.raises(InvalidInput, match="unsupported version"):
        ob.parse_manual(code)


def test_manual_wrong_length():
    digits = "000001000000"  # 12 data digits for a short code
    with pytest.raises(InvalidInput, match="digits"):
        ob.parse_manual(digits + ob.verhoeff_check_digit(digits))


def test_qr_validation_of_producer():
    with pytest.raises(InvalidInput, match="passcode"):
        ob.qr_code(ob.SetupPayload(12, 1, 128, 111111111, rendezvous=1))
    with pytest.raises(InvalidInput, match="not a valid setup passcode"):
        ob.parse_qr("MT:M5L90MP500W-GT68D20")  # [U] passcode 111111111 parses, fails validation
    with pytest.raises(InvalidInput, match="vendor_id"):
        ob.qr_code(ob.SetupPayload(0xFFF5, 1, 1, 20202021))
    with pytest.raises(InvalidInput, match="product_id"):
        ob.qr_code(ob.SetupPayload(0xFFF1, 0, 1, 20202021))
    with pytest.raises(InvalidInput, match="discriminator"):
        ob.qr_code(ob.SetupPayload(0xFFF1, 1, 4096, 20202021))
    with pytest.raises(InvalidInput, match="rendezvous"):
        ob.qr_code(ob.SetupPayload(0xFFF1, 1, 1, 20202021, rendezvous=0x40))


def test_rendezvous_names():
    assert ob.parse_rendezvous("ble") == 2
    assert ob.parse_rendezvous("ble,soft-ap,on-network") == 7
    assert ob.parse_rendezvous("soft_ap") == 1
    with pytest.raises(InvalidInput, match="unknown capability 'wifi'"):
        ob.parse_rendezvous("wifi")


def test_onboarding_cli_prints_exactly_two_lines():
    r = run_script("onboarding", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--discriminator", "3840",
                   "--passcode", "20202021")
    assert r.code == 0 and r.stderr == ""
    assert r.stdout == "Manualcode : 34970112332\nQRCode : MT:Y.K9042C00KA0648G00\n"
    r = run_script("onboarding", "--vendor-id", "0x127F", "--product-id", "0xABCD", "--discriminator", "0xFED",
                   "--passcode", "13243546", "--flow", "custom", "--rendezvous", "ble,on-network")
    assert r.code == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Manualcode : ") and len(lines[0].split(" : ")[1]) == 21
    p = ob.parse_qr(lines[1].split(" : ")[1])
    assert (p.flow, p.rendezvous, p.discriminator) == (2, 6, 0xFED)


def test_onboarding_cli_parse():
    r = run_script("onboarding", "--parse", "MT:Y.K9042C00KA0648G00", "--json")
    assert r.code == 0
    import json

    d = json.loads(r.stdout)
    assert d["vendor_id"] == 0xFFF1 and d["passcode"] == 20202021 and d["rendezvous"] == ["ble"]
    assert_clean_error(run_script("onboarding", "--parse", "34970112333"), 2, "check digit")
    assert_clean_error(run_script("onboarding", "--vendor_id", "1"), 2, "--product_id", "required")


def test_onboarding_png_decodes(tmp_path):
    import zxingcpp
    from PIL import Image

    png = tmp_path / "qr.png"
    r = run_script("onboarding", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--discriminator", "3840",
                   "--passcode", "20202021", "--png", str(png))
    assert r.code == 0
    results = zxingcpp.read_barcodes(Image.open(png))
    assert [x.text for x in results] == ["MT:Y.K9042C00KA0648G00"]
    assert oct(png.stat().st_mode & 0o777) == "0o600"
