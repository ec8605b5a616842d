"""gn: the example project (tests/integration/gn_project) builds with Debian's gn and ninja, produces the
same bytes as the command line, rebuilds nothing when nothing changed, regenerates on a changed build
argument, and fails the build on an overlap with the firmware."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from intelhex import IntelHex

from .conftest import FIXTURES, HERE, ROOT, need, run, tool


@pytest.fixture
def project(tmp_path):
    need("gn")
    need("ninja")
    src = tmp_path / "proj"
    shutil.copytree(os.path.join(HERE, "gn_project"), src)
    shutil.copy(os.path.join(HERE, "fake_app", "fake_fw.py"), src / "fake_fw.py")
    (src / ".gn").write_text((src / "dot_gn.in").read_text().replace("@PYTHON@", sys.executable))
    os.symlink(ROOT, src / "mfd")
    os.symlink(FIXTURES, src / "mfd_fixtures")
    return src


def gn(project, out, gn_args=""):
    cmd = ["gn", "gen", str(project / out)]
    if gn_args:
        cmd.append(f"--args={gn_args}")
    return run(cmd, cwd=str(project))


def ninja(project, out, check=True):
    return run(["ninja", "-C", str(project / out)], check=check)


def test_default_build_has_no_factory_data(project):
    gn(project, "out/default")
    r = ninja(project, "out/default")
    assert (project / "out/default/gen/firmware.hex").exists()
    assert not (project / "out/default/gen/factory_data").exists()
    r = run(["gn", "args", str(project / "out/default"), "--list=chip_with_factory_data", "--short"], cwd=str(project))
    assert r.stdout.strip() == "chip_with_factory_data = false"


def test_factory_data_build_matches_the_cli(project, tmp_path):
    gn(project, "out/fd", "chip_with_factory_data=true")
    r = ninja(project, "out/fd")
    gen = project / "out/fd/gen/factory_data"
    for name in ("factory_data.json", "factory_data.hex", "factory_data.bin", "factory_data.txt", "factory_data.png"):
        assert (gen / name).exists(), name
    merged = IntelHex(str(project / "out/fd/gen/factory_data_merged.hex"))
    binary = (gen / "factory_data.bin").read_bytes()
    assert merged.segments() == [(0, 1024), (0xFB000, 0xFB000 + len(binary))]
    # the command line with the same arguments writes the same bytes
    creds = os.path.join(FIXTURES, "matter-credentials", "development-attestation")
    cli = tool("json", "--sn", "SN 0001", "--vendor_id", "0xFFF1", "--product_id", "0x8000",
               "--vendor_name", "Test Vendor", "--product_name", "Test Light", "--date", "2024-01-15",
               "--hw_ver", "1", "--hw_ver_str", "1.0",
               "--dac_cert", os.path.join(creds, "Matter-Development-DAC-FFF1-8000-Cert.der"),
               "--dac_key", os.path.join(creds, "Matter-Development-DAC-FFF1-8000-Key.der"),
               "--pai_cert", os.path.join(creds, "Matter-Development-PAI-FFF1-noPID-Cert.der"),
               "--spake2_it", "1000", "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021",
               "--discriminator", "0xF00", "--generate_onboarding", "--offset", "0xfb000", "--size", "0x1000",
               "-o", str(tmp_path / "cli"))
    assert cli.returncode == 0, cli.stderr
    for ext in (".json", ".hex", ".bin", ".txt"):
        assert (tmp_path / ("cli" + ext)).read_bytes() == (gen / ("factory_data" + ext)).read_bytes(), ext
    # nothing to do the second time
    assert "no work to do" in ninja(project, "out/fd").stdout
    # a changed build argument regenerates
    args_gn = project / "out/fd/args.gn"
    args_gn.write_text('chip_with_factory_data = true\nfactory_data_serial = "SN 0002"\n')
    r = ninja(project, "out/fd")
    assert "Regenerating ninja files" in r.stdout
    assert '"sn": "SN 0002"' in (gen / "factory_data.json").read_text()
    r = run(["gn", "desc", str(project / "out/fd"), "//:factory_data", "args"], cwd=str(project))
    assert "0xfb000" in r.stdout


def test_overlap_fails_the_build(project):
    gn(project, "out/bad", 'chip_with_factory_data=true factory_data_offset="0x8"')
    r = ninja(project, "out/bad", check=False)
    assert r.returncode != 0
    assert "overlaps" in r.stdout and "at address 0x8" in r.stdout
    assert not (project / "out/bad/gen/factory_data_merged.hex").exists()


def test_ti_and_bouffalolab_formats(project, tmp_path):
    """format = "ti" from TI's JSON (the reference's bytes) and from values; format = "bouffalolab": the MFD.
    Each is what the command line writes, and a second build does nothing."""
    from matter_factory_data.formats import bouffalolab, ti

    gn(project, "out/fmt", "chip_with_factory_data=true")
    ninja(project, "out/fmt")
    gen = project / "out/fmt/gen"
    reference = open(os.path.join(FIXTURES, "ti-reference", "factory_data.hex"), "rb").read()
    assert (gen / "ti_factory_data" / "factory_data.hex").read_bytes() == reference
    region = (gen / "ti_from_values" / "factory_data.bin").read_bytes()
    assert ti.looks_like(region) and ti.decode(region).sn == "SN 0001"
    assert (gen / "ti_from_values" / "factory_data.hex").read_bytes() == ti.to_hex(region, 0xFE800)
    mfd = (gen / "bl_factory_data" / "factory_data.bin").read_bytes()
    values = bouffalolab.read(mfd)
    assert values["manufactoring_date"] == bytes([0x07, 0xE8, 1, 15])  # the 4 bytes the device reads
    assert values["cd"] == open(os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der"),
                                "rb").read()
    creds = os.path.join(FIXTURES, "matter-credentials", "development-attestation")
    common = ["--sn", "SN 0001", "--vendor_id", "0xFFF1", "--product_id", "0x8000", "--vendor_name", "Test Vendor",
              "--product_name", "Test Light", "--date", "2024-01-15", "--hw_ver", "1", "--hw_ver_str", "1.0",
              "--dac_cert", os.path.join(creds, "Matter-Development-DAC-FFF1-8000-Cert.der"),
              "--dac_key", os.path.join(creds, "Matter-Development-DAC-FFF1-8000-Key.der"),
              "--pai_cert", os.path.join(creds, "Matter-Development-PAI-FFF1-noPID-Cert.der"),
              "--spake2_it", "1000", "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021",
              "--discriminator", "0xF00", "--rd_uid", "91a9c12a7c80700a31ddcfa7fce63e44"]
    cli = tool("json", *common, "--format", "bouffalolab", "--offset", "0x3fe000", "--size", "0x1000", "--cd",
               os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der"),
               "-o", str(tmp_path / "bl"))
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "bl.bin").read_bytes() == mfd
    assert "no work to do" in ninja(project, "out/fmt").stdout
