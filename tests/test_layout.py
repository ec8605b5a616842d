"""``layout check``: real Partition Manager layouts pass; broken ones fail with messages naming the partitions."""

import os

import pytest
import yaml

from matter_factory_data.build import layout
from conftest import FIXTURES, ROOT, assert_clean_error, run_script

PM = os.path.join(FIXTURES, "pm_static")
REAL = {
    "pm_static_nrf52840dk_nrf52840.yml": 0x100000,
    "pm_static_nrf52840dk_nrf52840_dfu.yml": 0x100000,
    "pm_static_nrf52840dk_nrf52840_release.yml": 0x100000,
    "pm_static_nrf5340dk_nrf5340_cpuapp_dfu.yml": 0x100000,
    "pm_static_nrf54l15dk_nrf54l15_cpuapp_dfu.yml": 0x17D000,
    "pm_static_nrf7002dk_nrf5340_cpuapp_dfu.yml": 0x100000,
}


@pytest.mark.parametrize("name,flash", REAL.items())
def test_real_layouts_pass(name, flash):
    r = run_script("layout", "check", os.path.join(PM, name), "--flash_size", hex(flash))
    assert r.code == 0, r.stdout
    assert "OK: factory_data at 0x" in r.stdout and "warning" not in r.stdout


def test_example_layout_passes_and_prints_the_partition(tmp_path):
    path = os.path.join(ROOT, "pm_static.yml.example")
    r = run_script("layout", "check", path, "--flash_size", "0x100000", "--external_flash_size", "0x800000")
    assert r.code == 0, r.stdout
    r = run_script("layout", "check", path, "--print_partition", "factory_data")
    assert r.stdout == "0xfb000 0x1000\n"


def _base():
    with open(os.path.join(ROOT, "pm_static.yml.example")) as f:
        return yaml.safe_load(f)


def _check(data, **kw):
    kw.setdefault("flash_size", 0x100000)
    return layout.check(data, **kw)


def test_documentation_typo_is_caught():
    data = _base()
    data["factory_data"]["address"] = 0xFB00
    report = _check(data)
    assert "factory_data address 0xfb00 not 0x1000-aligned" in report.errors
    assert "overlap in flash_primary: app [0x7200,0xfb000) vs factory_data [0xfb00,0x10b00)" in report.errors


@pytest.mark.parametrize("change,message", [
    (lambda d: d["factory_data"].update(address=0xFB800), "factory_data address 0xfb800 not 0x1000-aligned"),
    (lambda d: d["factory_data"].update(size=0x800), "factory_data size 0x800 is not a non-zero multiple"),
    (lambda d: d["app"].update(size=0xf4e00), "overlap in flash_primary: app [0x7200,0xfc000) vs factory_data [0xfb000,0xfc000)"),
    (lambda d: d["settings_storage"].update(size=0x5000), "settings_storage [0xfc000,0x101000) lies outside flash_primary [0x0,0x100000)"),
    (lambda d: d.pop("factory_data"), "no 'factory_data' partition"),
    (lambda d: d["mcuboot_primary"]["span"].append("factory_data"), "factory_data is inside container 'mcuboot_primary'"),
    (lambda d: d["factory_data"].update(end_address=0xfb100), "factory_data: end_address 0xfb100 is not address + size"),
    (lambda d: d["mcuboot"].update(size="big"), "mcuboot: address and size must be non-negative integers"),
])
def test_broken_layouts(change, message):
    data = _base()
    change(data)
    report = _check(data)
    assert message in " | ".join(report.errors)


def test_alignment_applies_only_to_factory_data():
    report = _check(_base())
    assert report.ok  # mcuboot_pad (0x200) and app at 0x7200 are legitimately unaligned


def test_too_small_for_the_data(tmp_path):
    data = _base()
    report = _check(data, data_size=0x1001)
    assert "factory data needs 4097 bytes (CBOR + 1 terminator byte) but factory_data holds 4096 (0x1000)" in report.errors
    assert _check(data, data_size=0x1000).ok


def test_cli_with_config_and_data(tmp_path):
    cfg = tmp_path / ".config"
    cfg.write_text("CONFIG_FLASH_SIZE=1024\nCONFIG_FLASH_BASE_ADDRESS=0x0\n")
    big = tmp_path / "big.json"
    big.write_text('{"version": 1, "blob": "hex:' + "00" * 4200 + '"}')
    r = run_script("layout", "check", os.path.join(ROOT, "pm_static.yml.example"), "--config", str(cfg),
                   "--data", str(big))
    assert r.code == 2 and "but factory_data holds 4096" in r.stdout
    small = tmp_path / "small.json"
    small.write_text('{"version": 1}')
    r = run_script("layout", "check", os.path.join(ROOT, "pm_static.yml.example"), "--config", str(cfg),
                   "--data", str(small))
    assert r.code == 0 and "factory data uses 11 bytes" in r.stdout  # a1 67 "version" 01 + terminator


def test_cli_errors(tmp_path):
    assert_clean_error(run_script("layout", "check", str(tmp_path / "nope.yml")), 1, "cannot read")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1, 2\n")
    assert_clean_error(run_script("layout", "check", str(bad)), 2, "not valid YAML")
    bad.write_text("- a\n- b\n")
    assert_clean_error(run_script("layout", "check", str(bad)), 2, "mapping of partition names")
    r = run_script("layout", "check", os.path.join(ROOT, "pm_static.yml.example"), "--print_partition", "nothing")
    assert_clean_error(r, 2, "no partition 'nothing'")


def test_merge_cli(tmp_path):
    from intelhex import IntelHex

    a, b = IntelHex(), IntelHex()
    a.puts(0, b"\x01" * 16)
    a.start_addr = {"EIP": 0x1234}
    b.puts(0x10, b"\x02" * 16)
    a.write_hex_file(str(tmp_path / "a.hex"))
    b.write_hex_file(str(tmp_path / "b.hex"))
    r = run_script("merge", "-o", str(tmp_path / "m.hex"), str(tmp_path / "a.hex"), str(tmp_path / "b.hex"))
    assert r.code == 0
    m = IntelHex(str(tmp_path / "m.hex"))
    assert m.segments() == [(0, 32)] and m.start_addr is None
    r = run_script("merge", "-o", str(tmp_path / "x.hex"), str(tmp_path / "a.hex"), str(tmp_path / "a.hex"))
    assert_clean_error(r, 2, "overlaps", "at address 0x0")
    assert not (tmp_path / "x.hex").exists()
    r = run_script("merge", "--overlap", "replace", "-o", str(tmp_path / "x.hex"), str(tmp_path / "a.hex"),
                   str(tmp_path / "a.hex"))
    assert r.code == 0
    (tmp_path / "junk.hex").write_text("not hex")
    assert_clean_error(run_script("merge", "-o", str(tmp_path / "y.hex"), str(tmp_path / "junk.hex")), 2,
                       "not a valid Intel HEX file")
