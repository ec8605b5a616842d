"""The CMake module in a fake firmware project (no Zephyr, no compiler): generation, merging, no-op
rebuilds, regeneration on input changes, failures with clear messages, Ninja and Unix Makefiles, the
Partition Manager and pm_static.yml styles, and the pure helpers under ``cmake -P``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import pytest
from intelhex import IntelHex

from .conftest import FIXTURES, HERE, ROOT, dotconfig, need, run

APP = os.path.join(HERE, "fake_app")
GENERATORS = {"Ninja": "ninja", "Unix Makefiles": "make"}


def configure(tmp_path, config, generator="Ninja", check=True, **defs):
    need("cmake")
    need(GENERATORS[generator])
    build = tmp_path / f"build-{generator.replace(' ', '_')}"
    d = {"MFD_ROOT": ROOT, "APP_CONFIG": config, "FW_BASE": "0x0", "FD_OFFSET": "0xfb000", "FD_SIZE": "0x1000",
         "MODE": "explicit", "MATTER_FACTORY_DATA_PYTHON": sys.executable}
    d.update(defs)
    cmd = ["cmake", "-S", APP, "-B", str(build), "-G", generator] + [f"-D{k}={v}" for k, v in d.items()]
    return build, run(cmd, check=check)


def build_(build, check=True, dry=False):
    cmd = ["cmake", "--build", str(build)]
    if dry:
        cmd += ["--", "-n"]
    return run(cmd, check=check)


def merged(build):
    return IntelHex(str(build / "zephyr" / "matter_factory_data_merged.hex"))


@pytest.mark.parametrize("generator", list(GENERATORS))
def test_generate_and_merge(tmp_path, generator):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg, generator)
    build_(build)
    z = build / "zephyr"
    for name in ("factory_data.json", "factory_data.hex", "factory_data.bin", "factory_data.txt",
                 "factory_data.png", "matter_factory_data_merged.hex"):
        assert (z / name).exists(), name
    doc = json.loads((z / "factory_data.json").read_text())
    assert doc["sn"] == "SN 0001"  # a value with a space arrives intact (VERBATIM list, no hand quoting)
    ih = merged(build)
    assert ih.segments() == [(0, 1024), (0xFB000, 0xFB000 + len((z / "factory_data.bin").read_bytes()))]
    assert ih.tobinstr(start=0, end=1023) == bytes(i % 256 for i in range(1024))
    binary = (z / "factory_data.bin").read_bytes()
    assert ih.tobinstr(start=0xFB000, end=0xFB000 + len(binary) - 1) == binary
    assert (build / "runner_hex.txt").read_text().strip() == str(z / "matter_factory_data_merged.hex")
    # the same bytes as the command line with --from_config
    out = tmp_path / "cli"
    out.mkdir()
    from .conftest import tool

    r = tool("json", "--from_config", cfg, "-o", str(out / "factory_data"), "--offset", "0xfb000", "--size", "0x1000")
    assert r.returncode == 0, r.stderr
    for name in ("factory_data.json", "factory_data.hex", "factory_data.bin", "factory_data.txt"):
        assert (out / name).read_bytes() == (z / name).read_bytes(), name


def test_both_generators_write_the_same_bytes(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    outs = []
    for gen in GENERATORS:
        build, _ = configure(tmp_path, cfg, gen)
        build_(build)
        outs.append([(build / "zephyr" / n).read_bytes() for n in ("factory_data.json", "factory_data.hex",
                                                                   "matter_factory_data_merged.hex")])
    assert outs[0] == outs[1]


def test_noop_rebuild_and_regeneration(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg)
    build_(build)
    z = build / "zephyr"
    stamp = (z / "factory_data.hex").stat().st_mtime_ns
    r = build_(build, dry=True)
    assert "no work to do" in r.stdout
    r = build_(build)
    assert "Generating Matter factory data" not in r.stdout
    assert (z / "factory_data.hex").stat().st_mtime_ns == stamp
    # editing the .config regenerates and re-merges
    time.sleep(1.1)
    dotconfig(tmp_path / ".config", CONFIG_CHIP_DEVICE_PRODUCT_ID="32774",
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT=f'"{FIXTURES}/matter-credentials/development-attestation/Matter-Development-DAC-FFF1-8006-Cert.der"',
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY=f'"{FIXTURES}/matter-credentials/development-attestation/Matter-Development-DAC-FFF1-8006-Key.der"')
    r = build_(build)
    assert "Generating Matter factory data" in r.stdout and "Merging" in r.stdout
    assert json.loads((z / "factory_data.json").read_text())["product_id"] == 32774
    # replacing a certificate file (same path, new content) regenerates
    certs = tmp_path / "certs"
    certs.mkdir()
    dev = os.path.join(FIXTURES, "matter-credentials", "development-attestation")
    for src, dst in (("Matter-Development-DAC-FFF1-8000-Cert.der", "dac.der"),
                     ("Matter-Development-DAC-FFF1-8000-Key.der", "key.der"),
                     ("Matter-Development-PAI-FFF1-noPID-Cert.der", "pai.der")):
        shutil.copy(os.path.join(dev, src), certs / dst)
    time.sleep(1.1)
    dotconfig(tmp_path / ".config", CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT=f'"{certs}/dac.der"',
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY=f'"{certs}/key.der"',
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT=f'"{certs}/pai.der"')
    build_(build)
    assert "no work to do" in build_(build, dry=True).stdout
    time.sleep(1.1)
    shutil.copy(os.path.join(dev, "Matter-Development-DAC-FFF1-8006-Cert.der"), certs / "dac.der")
    shutil.copy(os.path.join(dev, "Matter-Development-DAC-FFF1-8006-Key.der"), certs / "key.der")
    dotconfig(tmp_path / ".config", CONFIG_CHIP_DEVICE_PRODUCT_ID="32774",
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_CERT=f'"{certs}/dac.der"',
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_DAC_KEY=f'"{certs}/key.der"',
              CONFIG_MATTER_FACTORY_DATA_USER_CERTS_PAI_CERT=f'"{certs}/pai.der"')
    r = build_(build)
    assert "Generating Matter factory data" in r.stdout
    doc = json.loads((z / "factory_data.json").read_text())
    assert doc["dac_cert"] == "hex:" + (certs / "dac.der").read_bytes().hex()


def test_overlap_with_firmware_fails_the_build(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg, FD_OFFSET="0x100")
    r = build_(build, check=False)
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert "overlaps" in text and "at address 0x100" in text
    assert not (build / "zephyr" / "matter_factory_data_merged.hex").exists()


def test_too_small_partition_fails_the_build(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg, FD_SIZE="0x100")
    r = build_(build, check=False)
    assert r.returncode != 0 and "partition holds 256" in r.stdout + r.stderr
    assert not (build / "zephyr" / "factory_data.json").exists()  # nothing stale for the next build


def test_invalid_passcode_fails_the_build(tmp_path):
    cfg = dotconfig(tmp_path / ".config", CONFIG_CHIP_DEVICE_SPAKE2_PASSCODE="12345678")
    build, _ = configure(tmp_path, cfg)
    r = build_(build, check=False)
    assert r.returncode != 0 and "12345678 is not allowed" in r.stdout + r.stderr


def test_offset_zero_works(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg, FW_BASE="0x10000", FD_OFFSET="0", FD_SIZE="0x1000")
    build_(build)
    ih = merged(build)
    assert ih.segments()[0][0] == 0 and ih.segments()[-1] == (0x10000, 0x10400)


def test_partition_manager_style(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    build, _ = configure(tmp_path, cfg, MODE="pm", PM_FD_ADDR="0xfb000", PM_FD_SIZE="0x1000")
    build_(build)
    hook = (build / "pm_hook.txt").read_text().split()
    assert hook == [str(build / "zephyr" / "factory_data.hex"), "matter_factory_data"]
    ih = IntelHex(str(build / "zephyr" / "merged.hex"))
    assert ih.segments()[0] == (0, 1024) and ih.segments()[1][0] == 0xFB000
    assert not (build / "zephyr" / "matter_factory_data_merged.hex").exists()  # the PM merges, not us
    assert "no work to do" in build_(build, dry=True).stdout
    # the size comes from PM_FACTORY_DATA_SIZE, not PM_FACTORY_DATA_OFFSET (which would allow 0xfb000 bytes)
    build2, _ = configure(tmp_path / "small", cfg, MODE="pm", PM_FD_ADDR="0xfb000", PM_FD_SIZE="0x80")
    r = build_(build2, check=False)
    assert r.returncode != 0 and "partition holds 128" in r.stdout + r.stderr


def test_pm_static_style(tmp_path):
    cfg = dotconfig(tmp_path / ".config")
    layout = os.path.join(FIXTURES, "pm_static", "pm_static_nrf52840dk_nrf52840_dfu.yml")
    build, _ = configure(tmp_path, cfg, MODE="pm_static", PM_STATIC=layout)
    build_(build)
    assert merged(build).segments()[1][0] == 0xFB000
    # a broken layout fails configuration with the checker's message
    bad = tmp_path / "pm_static.yml"
    bad.write_text("app:\n  address: 0x0\n  size: 0xfb000\nfactory_data:\n  address: 0xfb00\n  size: 0x1000\n")
    _, r = configure(tmp_path / "bad", cfg, MODE="pm_static", PM_STATIC=str(bad), check=False)
    assert r.returncode != 0 and "factory_data address 0xfb00 not 0x1000-aligned" in " ".join(r.stderr.split())


def test_conflict_with_sdk_generation_fails_configuration(tmp_path):
    cfg = dotconfig(tmp_path / ".config", CONFIG_CHIP_FACTORY_DATA_BUILD="y")
    _, r = configure(tmp_path, cfg, check=False)
    assert r.returncode != 0
    assert ("CONFIG_CHIP_FACTORY_DATA_BUILD=y and CONFIG_MATTER_FACTORY_DATA=y both generate factory data. Turn one off"
            in " ".join(r.stderr.split()))


def test_disabled_option_builds_only_the_firmware(tmp_path):
    cfg = dotconfig(tmp_path / ".config", CONFIG_MATTER_FACTORY_DATA="n")
    build, r = configure(tmp_path, cfg)
    assert "CONFIG_MATTER_FACTORY_DATA is off" in r.stdout
    build_(build)
    assert (build / "zephyr" / "zephyr.hex").exists()
    assert not (build / "zephyr" / "factory_data.hex").exists()


def test_import_config_helper_under_cmake_script_mode(tmp_path):
    need("cmake")
    cfg = tmp_path / ".config"
    cfg.write_text('CONFIG_A="quoted \\"value\\" here"\n# CONFIG_B is not set\nCONFIG_C=0xF00\nCONFIG_D=y\n'
                   'OTHER=1\nCONFIG_E=""\n')
    script = tmp_path / "t.cmake"
    script.write_text(
        f'include("{ROOT}/cmake/matter_factory_data.cmake")\n'
        f'matter_factory_data_import_config("CONFIG_" "{cfg}" OUT_KEYS keys)\n'
        'message(STATUS "A=[${CONFIG_A}] B=[${CONFIG_B}] C=[${CONFIG_C}] D=[${CONFIG_D}] E=[${CONFIG_E}] keys=[${keys}]")\n'
        'set(CONFIG_CHIP_FACTORY_DATA_BUILD y)\nmatter_factory_data_check_conflicts()\n')
    r = run(["cmake", "-P", str(script)], check=False)
    assert 'A=[quoted "value" here] B=[n] C=[0xF00] D=[y] E=[] keys=[CONFIG_A;CONFIG_B;CONFIG_C;CONFIG_D;CONFIG_E]' in r.stdout
    assert r.returncode != 0 and "both generate factory data" in " ".join(r.stderr.split())


def test_sysbuild_hook_with_the_partition_manager(tmp_path):
    need("cmake")
    need("ninja")
    cfg = dotconfig(tmp_path / ".config")
    build = tmp_path / "sb"
    run(["cmake", "-S", os.path.join(HERE, "fake_sysbuild"), "-B", str(build), "-G", "Ninja", f"-DMFD_ROOT={ROOT}",
         f"-DAPP_CONFIG={cfg}", f"-DMFD_PYTHON={sys.executable}", "-DPM_FD_SIZE=0x1000"])
    run(["cmake", "--build", str(build)])
    image = build / "app" / "zephyr"
    assert (build / "pm_hook.txt").read_text().split() == [str(image / "factory_data.hex"), "matter_factory_data"]
    assert IntelHex(str(image / "factory_data.hex")).minaddr() == 0xFB000
    assert "no work to do" in build_(build, dry=True).stdout
    # the size is PM_FACTORY_DATA_SIZE
    build2 = tmp_path / "sb2"
    run(["cmake", "-S", os.path.join(HERE, "fake_sysbuild"), "-B", str(build2), "-G", "Ninja", f"-DMFD_ROOT={ROOT}",
         f"-DAPP_CONFIG={cfg}", f"-DMFD_PYTHON={sys.executable}", "-DPM_FD_SIZE=0x80"])
    r = run(["cmake", "--build", str(build2)], check=False)
    assert r.returncode != 0 and "partition holds 128" in r.stdout + r.stderr


def test_zephyr_module_yml_fits_zephyrs_schema():
    """Zephyr validates module.yml with pykwalify against a fixed set of keys (name, build: cmake, kconfig,
    sysbuild-cmake, ...); an unknown key such as west-commands would stop every Zephyr build."""
    import yaml

    with open(os.path.join(ROOT, "zephyr", "module.yml")) as f:
        meta = yaml.safe_load(f)
    assert set(meta) <= {"name", "build", "tests", "samples", "boards", "blobs"}
    assert meta["build"] == {"cmake": "cmake", "kconfig": "kconfig/Kconfig", "sysbuild-cmake": "cmake/sysbuild"}
    for key in ("cmake", "sysbuild-cmake"):
        assert os.path.isfile(os.path.join(ROOT, meta["build"][key], "CMakeLists.txt"))
    assert os.path.isfile(os.path.join(ROOT, meta["build"]["kconfig"]))


# ---------------------------------------------------------------- Telink (Kconfig choice, devicetree)

TELINK_CD = os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der")


def telink_config(path, **values) -> str:
    return dotconfig(path, CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK="y",
                     CONFIG_MATTER_FACTORY_DATA_FORMAT_NRFCONNECT="n", CONFIG_FLASH_BASE_ADDRESS="0x20000000",
                     CONFIG_MATTER_FACTORY_DATA_CD_FILE=f'"{TELINK_CD}"', **values)


def telink_configure(tmp_path, cfg, label="factory_partition", check=True):
    return configure(tmp_path, cfg, MODE="dts", DT_LABEL=label, DT_ADDR="0xff000", DT_SIZE="0x1000",
                     FW_BASE="0x20000000", check=check)


def test_telink_build_reads_the_devicetree_and_merges_for_west_flash(tmp_path):
    from matter_factory_data import formats
    from matter_factory_data.formats import nrfconnect, telink

    cfg = telink_config(tmp_path / ".config")
    build, _ = telink_configure(tmp_path, cfg)
    build_(build)
    z = build / "zephyr"
    image = (z / "factory_data.bin").read_bytes()
    assert formats.detect(image) == "telink"
    values = telink.read(image)
    assert values["cert_dclrn"] == open(TELINK_CD, "rb").read() and values["sn"] == b"SN 0001"
    assert values["rd_uid"] == b"91a9c12a7c80700a31ddcfa7fce63e44"  # CONFIG_CHIP_DEVICE_ROTATING_DEVICE_UID, as text
    assert (z / "factory_data.hex").read_bytes() == nrfconnect.to_intel_hex(image, 0xFF000)  # flash-relative
    ih = merged(build)
    assert ih.segments() == [(0x20000000, 0x20000400), (0x200FF000, 0x200FF000 + len(image))]
    flat = (z / "matter_factory_data_merged.bin").read_bytes()
    assert flat[:1024] == bytes(i % 256 for i in range(1024)) and set(flat[1024:0xFF000]) == {0xFF}
    assert flat[0xFF000:] == image
    assert (build / "runner_bin.txt").read_text().strip() == str(z / "matter_factory_data_merged.bin")
    assert (build / "runner_hex.txt").read_text().strip() == str(z / "matter_factory_data_merged.hex")
    # the command line with the same configuration writes the same bytes
    from .conftest import tool

    out = tmp_path / "cli"
    out.mkdir()
    r = tool("json", "--from_config", cfg, "-o", str(out / "factory_data"), "--offset", "0xff000", "--size", "0x1000")
    assert r.returncode == 0, r.stderr
    assert (out / "factory_data.hex").read_bytes() == (z / "factory_data.hex").read_bytes()
    # reproducible: a second build directory makes the same bytes; a second build is a no-op
    build2, _ = telink_configure(tmp_path / "again", cfg)
    build_(build2)
    for name in ("factory_data.bin", "matter_factory_data_merged.bin"):
        assert (build2 / "zephyr" / name).read_bytes() == (z / name).read_bytes(), name
    assert "no work to do" in build_(build, dry=True).stdout
    # a changed value regenerates and re-merges
    time.sleep(1.1)
    telink_config(tmp_path / ".config", CONFIG_CHIP_DEVICE_DISCRIMINATOR="0x123")
    r = build_(build)
    assert "Generating Matter factory data" in r.stdout and "Merging" in r.stdout
    assert telink.read((z / "factory_data.bin").read_bytes())["discriminator"] == 0x123
    assert (z / "matter_factory_data_merged.bin").read_bytes()[0xFF000:] == (z / "factory_data.bin").read_bytes()


def test_telink_build_needs_the_factory_partition_label_and_refuses_the_sdks_generation(tmp_path):
    cfg = telink_config(tmp_path / ".config")
    _, r = telink_configure(tmp_path / "a", cfg, label="factory_data_partition", check=False)
    assert r.returncode != 0 and "no devicetree node label 'factory_partition'" in " ".join(r.stderr.split())
    cfg = telink_config(tmp_path / "b.config", CONFIG_CHIP_FACTORY_DATA_BUILD="y")
    _, r = telink_configure(tmp_path / "b", cfg, check=False)
    assert r.returncode != 0 and "CONFIG_CHIP_FACTORY_DATA_BUILD=y and CONFIG_MATTER_FACTORY_DATA=y" in \
        " ".join(r.stderr.split())
