"""The Telink format: byte-identical with Telink's mfg_tool.py on its worked example (tests/fixtures/
telink-reference), decoded back, and its limits."""

from __future__ import annotations

import os

import pytest

from conftest import FIXTURES
from matter_factory_data import api, formats
from matter_factory_data.crypto import keys, spake2p
from matter_factory_data.errors import InvalidInput
from matter_factory_data.formats import nrfconnect, telink

REF = os.path.join(FIXTURES, "telink-reference")
ATT = os.path.join(FIXTURES, "matter-credentials", "test-attestation")
CD = open(os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der"), "rb").read()


def reference_device() -> api.Device:
    """The inputs of the fixture's command line, as the model holds them."""
    salt = bytes(range(32))
    device = api.Device(
        vendor_id=0xFFF1, vendor_name="TEST_VENDOR", product_id=0x8000, product_name="TEST_PRODUCT", hw_ver=1,
        hw_ver_str="1.0", date="2022-01-01", rd_uid=bytes.fromhex("91a9c12a7c80700a31ddcfa7fce63e44"),
        sn="123456789abcdef", enable_key=bytes.fromhex("00112233445566778899AABBCCDDEEFF"),
        product_label="TEST_LABEL", product_url="https://example.com", part_number="TEST_PART",
        discriminator=0xF00, spake2_it=1000, spake2_salt=salt,
        spake2_verifier=spake2p.generate_verifier(20202021, salt, 1000), passcode=20202021,
        dac_cert=keys.load_certificate_der(os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Cert.pem"), "dac"),
        dac_key=keys.load_dac_scalar(os.path.join(ATT, "Chip-Test-DAC-FFF1-8000-0000-Key.pem"), "key").to_bytes(32, "big"),
        pai_cert=keys.load_certificate_der(os.path.join(ATT, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "pai"))
    device.hex_text.update(rd_uid="91a9c12a7c80700a31ddcfa7fce63e44", enable_key="00112233445566778899AABBCCDDEEFF")
    device.validate()
    return device


def test_bin_and_hex_are_byte_identical_with_mfg_tool():
    image = api.encode("telink", reference_device(), cd=CD, size=0x1000)
    assert image == open(os.path.join(REF, "factory_data.bin"), "rb").read()
    assert nrfconnect.to_intel_hex(image, 0xFF000) == open(os.path.join(REF, "factory_data.hex"), "rb").read()


def test_decoded_back_with_the_cd_and_read_by_the_nrf_reader_too():
    image = open(os.path.join(REF, "factory_data.bin"), "rb").read()
    device = telink.decode(image)
    assert device == reference_device()
    assert telink.read(image)["cert_dclrn"] == CD
    assert formats.detect(image) == "telink"
    nrf = nrfconnect.decode(image)  # the nRF parser reads a Telink image (it skips cert_dclrn)
    assert (nrf.vendor_id, nrf.discriminator, nrf.dac_cert) == (0xFFF1, 0xF00, device.dac_cert)


def test_limits_are_clean_errors_naming_the_sizes():
    device = reference_device()
    with pytest.raises(InvalidInput, match=r"factory data needs 1796 bytes .* but the partition holds 1024"):
        api.encode("telink", device, cd=CD, size=0x400)
    assert len(api.encode("telink", device, cd=CD, size=telink.PARTITION_SIZES["tl3218x"])) == 1796
    device.rd_uid = bytes(range(32))
    device.hex_text.clear()
    with pytest.raises(InvalidInput, match="rd_uid: is 32 bytes; Telink stores it as hex text and needs 16..16"):
        api.encode("telink", device)


def test_what_telink_does_not_store_and_how_it_stores_user_data():
    device = reference_device()
    device.product_finish, device.primary_color, device.user = 2, 5, {"room": "kitchen", "n": 1}
    values = telink.read(api.encode("telink", device))
    assert "product_finish" not in values and "primary_color" not in values
    assert values["user"] == b'{"room":"kitchen","n":1}' and list(values)[-1] == "user"
    assert telink.decode(api.encode("telink", device)).user == {"room": "kitchen", "n": 1}


@pytest.mark.parametrize("name", ["factory_data.bin", "factory_data.hex"])
def test_inspect_reads_telink_images_and_says_which_layout(name):
    from conftest import run_script

    r = run_script("inspect", os.path.join(REF, name))
    assert r.code == 0 and ": telink factory data (" in r.stdout and "result: OK" in r.stdout
    assert "layout: Telink" in r.stdout and "an nRF Connect parser reads this image too" in r.stdout
    # read as nRF Connect data on request: there the ASCII enable_key breaks the nRF rule
    r = run_script("inspect", "--format", "nrfconnect", os.path.join(REF, name))
    assert "enable_key: must be exactly 16 bytes, got 32" in r.stdout
