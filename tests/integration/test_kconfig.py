"""kconfig/Kconfig with kconfiglib: loads without warnings, SDK-compatible names/types/defaults, prj.conf
values become the expected generator arguments, kconfiglib's silent drops become errors."""

from __future__ import annotations

import base64
import os

import kconfiglib
import pytest

from matter_factory_data.build import kconfig
from matter_factory_data.errors import InvalidInput
from matter_factory_data.requests import NrfRequest

from .conftest import ROOT, dotconfig, tool

SDK = {  # the nRF Connect SDK's identity symbols: (type, default)
    "CHIP_DEVICE_VENDOR_ID": ("int", "65521"), "CHIP_DEVICE_PRODUCT_ID": ("int", "32768"),
    "CHIP_DEVICE_VENDOR_NAME": ("string", "Nordic Semiconductor ASA"),
    "CHIP_DEVICE_PRODUCT_NAME": ("string", "not-specified"), "CHIP_DEVICE_HARDWARE_VERSION": ("int", "0"),
    "CHIP_DEVICE_HARDWARE_VERSION_STRING": ("string", "prerelease"),
    "CHIP_DEVICE_MANUFACTURING_DATE": ("string", "2022-01-01"),
    "CHIP_DEVICE_SERIAL_NUMBER": ("string", "11223344556677889900"),
    "CHIP_DEVICE_ROTATING_DEVICE_UID": ("string", "91a9c12a7c80700a31ddcfa7fce63e44"),
    "CHIP_DEVICE_DISCRIMINATOR": ("hex", "0xF00"), "CHIP_DEVICE_SPAKE2_PASSCODE": ("int", "20202021"),
    "CHIP_DEVICE_SPAKE2_IT": ("int", "1000"), "CHIP_DEVICE_SPAKE2_SALT": ("string", "U1BBS0UyUCBLZXkgU2FsdA=="),
    "CHIP_DEVICE_SPAKE2_TEST_VERIFIER": ("string", "uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw=="),
    "CHIP_DEVICE_ENABLE_KEY": ("string", "00112233445566778899AABBCCDDEEFF"),
    "CHIP_DEVICE_PRODUCT_FINISH": ("string", "other"), "CHIP_DEVICE_PRODUCT_COLOR": ("string", ""),
}


@pytest.fixture
def kconf(monkeypatch):
    monkeypatch.setenv("srctree", ROOT)
    return kconfiglib.Kconfig("kconfig/Kconfig", warn_to_stderr=False)


def test_loads_standalone_without_warnings(kconf):
    assert kconf.warnings == [] and kconf.missing_syms == []
    for sym in kconf.unique_defined_syms:
        assert sym.nodes[0].help, f"{sym.name} has no help text"


def test_identity_symbols_match_the_sdk(kconf):
    kconf.syms["MATTER_FACTORY_DATA"].set_value("y")
    for name, (typ, default) in SDK.items():
        sym = kconf.syms[name]
        assert kconfiglib.TYPE_TO_STR[sym.orig_type] == typ, name
        assert sym.str_value == default, name
    assert kconf.syms["MATTER_FACTORY_DATA_CERT_SOURCE_DEFAULT"].str_value == "y"
    assert kconf.syms["MATTER_FACTORY_DATA_GENERATE_SPAKE2_VERIFIER"].str_value == "y"
    assert kconf.syms["MATTER_FACTORY_DATA_MERGE_WITH_FIRMWARE"].str_value == "y"
    assert kconf.syms["MATTER_FACTORY_DATA_GENERATE_ROTATING_DEVICE_UID"].str_value == "n"  # reproducible builds


def test_options_are_off_until_enabled(kconf):
    assert kconf.syms["MATTER_FACTORY_DATA"].str_value == "n"
    assert kconf.syms["MATTER_FACTORY_DATA_MERGE_WITH_FIRMWARE"].str_value == "n"
    assert kconf.syms["CHIP_DEVICE_VENDOR_ID"].str_value == ""


def test_prj_conf_to_generator_arguments(tmp_path):
    prj = tmp_path / "prj.conf"
    prj.write_text("CONFIG_MATTER_FACTORY_DATA=y\nCONFIG_CHIP_DEVICE_VENDOR_ID=4660\n"
                   "CONFIG_CHIP_DEVICE_PRODUCT_ID=32774\nCONFIG_CHIP_DEVICE_SERIAL_NUMBER=\"SN-42\"\n"
                   "CONFIG_CHIP_DEVICE_DISCRIMINATOR=0xABC\nCONFIG_CHIP_DEVICE_PRODUCT_COLOR=\"copper\"\n"
                   "CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_GENERATED=y\nCONFIG_MATTER_FACTORY_DATA_GENERATE_CD=y\n"
                   "# CONFIG_MATTER_FACTORY_DATA_GENERATE_SPAKE2_VERIFIER is not set\n"
                   "CONFIG_CHIP_DEVICE_ENABLE_KEY=\"\"\n")
    overlay = tmp_path / "overlay.conf"
    overlay.write_text("CONFIG_CHIP_DEVICE_HARDWARE_VERSION=3\n")
    cfg = kconfig.read_config([str(prj), str(overlay)])
    values = kconfig.request_values(cfg)
    assert values == {
        "sn": "SN-42", "date": "2022-01-01", "vendor_id": 4660, "product_id": 32774,
        "vendor_name": "Nordic Semiconductor ASA", "product_name": "not-specified", "hw_ver": 3,
        "hw_ver_str": "prerelease", "rd_uid": "91a9c12a7c80700a31ddcfa7fce63e44", "gen_certs": True,
        "gen_cd": True, "cd_type": 1, "spake2_it": 1000, "spake2_salt": b"SPAKE2P Key Salt",
        "discriminator": 0xABC, "passcode": 20202021, "include_passcode": True,
        "spake2_verifier": base64.b64decode(SDK["CHIP_DEVICE_SPAKE2_TEST_VERIFIER"][1]),
        "product_finish": "other", "product_color": "copper", "generate_onboarding": True,
    }
    NrfRequest(output="fd", **values)  # every value is a field of the request the json command builds


def test_telink_choice_in_a_prj_conf(tmp_path):
    """A Telink prj.conf: the format choice, Telink's vendor name default, the CD file; the CHIP_DEVICE_* lines
    Telink's samples already set are read unchanged."""
    prj = tmp_path / "prj.conf"
    prj.write_text("CONFIG_MATTER_FACTORY_DATA=y\nCONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK=y\n"
                   "CONFIG_MATTER_FACTORY_DATA_CD_FILE=\"CD.der\"\nCONFIG_CHIP_DEVICE_PRODUCT_ID=32773\n"
                   "CONFIG_CHIP_DEVICE_PRODUCT_NAME=\"Telink Lighting\"\n")
    values = kconfig.request_values(kconfig.read_config([str(prj)]))
    assert (values["format"], values["cd"], values["vendor_name"], values["product_id"], values["product_name"]) == \
        ("telink", "CD.der", "Telink Semiconductor", 32773, "Telink Lighting")
    NrfRequest(output="fd", **values)


@pytest.mark.parametrize("line,fragment", [
    ("CONFIG_CHIP_DEVICE_PRODUCT_ID=0x8006", "CONFIG_CHIP_DEVICE_PRODUCT_ID"),
    ("CONFIG_CHIP_DEVICE_VENDOR_ID=70000", "CONFIG_CHIP_DEVICE_VENDOR_ID"),
    ("CONFIG_CHIP_DEVICE_DISCRIMINATOR=0x1000", "CONFIG_CHIP_DEVICE_DISCRIMINATOR"),
])
def test_kconfig_warnings_are_errors(tmp_path, line, fragment):
    prj = tmp_path / "prj.conf"
    prj.write_text("CONFIG_MATTER_FACTORY_DATA=y\n" + line + "\n")
    with pytest.raises(InvalidInput) as e:
        kconfig.read_config([str(prj)])
    assert fragment in str(e.value)
    r = tool("json", "--from_config", str(prj), "-o", str(tmp_path / "fd"))
    assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "fd.json").exists()


def test_invalid_passcode_in_range_is_refused(tmp_path):
    cfg = dotconfig(tmp_path / ".config", CONFIG_CHIP_DEVICE_SPAKE2_PASSCODE="11111111")
    r = tool("json", "--from_config", cfg, "-o", str(tmp_path / "fd"))
    assert r.returncode == 2 and "11111111 is not allowed" in r.stderr


def test_dotconfig_semantics_and_conflicts(tmp_path):
    assert kconfig.parse_dotconfig('CONFIG_A="x \\"y\\""\n# CONFIG_B is not set\nCONFIG_C=0xF00\n') == {
        "CONFIG_A": 'x "y"', "CONFIG_B": "n", "CONFIG_C": "0xF00"}
    cfg = dotconfig(tmp_path / ".config", CONFIG_CHIP_FACTORY_DATA_BUILD="y")
    r = tool("json", "--from_config", cfg, "-o", str(tmp_path / "fd"))
    assert r.returncode == 2 and "both generate factory data" in r.stderr


def test_user_certificate_source_needs_paths(tmp_path):
    cfg = dotconfig(tmp_path / ".config", CONFIG_MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT='""')
    r = tool("json", "--from_config", cfg, "-o", str(tmp_path / "fd"))
    assert r.returncode == 2 and "CONFIG_MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT" in r.stderr


def test_default_source_uses_sdk_development_certificates(tmp_path):
    import shutil

    from .conftest import DEV

    sdk = tmp_path / "sdk" / "credentials" / "development" / "attestation"
    sdk.mkdir(parents=True)
    for f in ("Matter-Development-DAC-FFF1-8000-Cert.der", "Matter-Development-DAC-FFF1-8000-Key.der",
              "Matter-Development-PAI-FFF1-noPID-Cert.der"):
        shutil.copy(os.path.join(DEV, f), sdk / f)
    cfg = {"CONFIG_CHIP_DEVICE_VENDOR_ID": "65521", "CONFIG_CHIP_DEVICE_PRODUCT_ID": "32768",
           "CONFIG_MATTER_FACTORY_DATA_CERT_SOURCE_DEFAULT": "y"}
    warnings = []
    values = kconfig.cert_values(cfg, str(tmp_path / "sdk"), warnings.append)
    assert values["dac_cert"] == str(sdk / "Matter-Development-DAC-FFF1-8000-Cert.der")
    assert warnings == []
    cfg["CONFIG_CHIP_DEVICE_PRODUCT_ID"] = "32800"  # 0x8020: no development certificate
    assert kconfig.cert_values(cfg, str(tmp_path / "sdk"), warnings.append) == {"gen_certs": True}
    assert "generating test certificates" in warnings[0]
