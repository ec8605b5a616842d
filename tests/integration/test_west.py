"""``west factory-data``: the extension loads in an offline local workspace (``west init -l``), runs every
subcommand, and writes the same bytes as the command line; also run in-process with a Configuration."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

import pytest

from .conftest import FIXTURES, ROOT, dotconfig, run, tool

REF = os.path.join(FIXTURES, "nrfconnect-reference")
ARGS = ["--sn", "SN 1", "--vendor_id", "0x127F", "--product_id", "0xABCD", "--vendor_name", "Nordic",
        "--product_name", "Lock", "--date", "2022-07-20", "--hw_ver", "1", "--hw_ver_str", "1.0",
        "--dac_cert", os.path.join(REF, "DAC_cert.der"), "--dac_key", os.path.join(REF, "DAC_key.der"),
        "--pai_cert", os.path.join(REF, "PAI_cert.der"), "--spake2_it", "1000",
        "--spake2_salt", "U1BBS0UyUCBLZXkgU2FsdA==", "--passcode", "20202021", "--discriminator", "0xF00",
        "--offset", "0xfb000", "--size", "0x1000"]


def west_exe() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "west")
    if not os.path.exists(exe):
        exe = shutil.which("west")
    if exe is None:
        if os.environ.get("CI"):
            raise AssertionError("west is not installed (pip install west; tests/setup.sh installs it)")
        pytest.skip("west not installed")
    return exe


def test_west_commands_spec_is_valid():
    import yaml

    with open(os.path.join(ROOT, "scripts", "west-commands.yml")) as f:
        spec = yaml.safe_load(f)
    (entry,) = spec["west-commands"]
    assert entry["file"] == "scripts/west/factory_data_cmd.py"
    assert entry["commands"] == [{"name": "factory-data", "class": "FactoryData",
                                  "help": "Matter factory data (matter-factory-data) for the current build"}]
    assert os.path.exists(os.path.join(ROOT, entry["file"]))


def test_offline_workspace_runs_the_command(tmp_path):
    exe = west_exe()
    ws = tmp_path / "ws"
    ws.mkdir()
    # the manifest repository is a copy of this repository's west-facing files
    repo = ws / "matter-factory-data"
    shutil.copytree(os.path.join(ROOT, "scripts"), repo / "scripts",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(os.path.join(ROOT, "kconfig"), repo / "kconfig")
    (repo / "west.yml").write_text("manifest:\n  self:\n    west-commands: scripts/west-commands.yml\n  projects: []\n")
    env = {"WEST_CONFIG_GLOBAL": str(tmp_path / "global"), "WEST_CONFIG_SYSTEM": str(tmp_path / "system")}
    r = run([exe, "init", "-l", str(repo)], cwd=str(ws), env=env)
    assert "Initialized" in r.stdout + r.stderr
    r = run([exe, "help"], cwd=str(ws), env=env)
    assert "factory-data" in r.stdout
    out = tmp_path / "out"
    out.mkdir()
    r = run([exe, "factory-data", "json", *ARGS, "-o", str(out / "west_fd")], cwd=str(ws), env=env)
    cli = tool("json", *ARGS, "-o", str(out / "cli_fd"))
    assert cli.returncode == 0, cli.stderr
    for ext in (".json", ".hex", ".bin"):
        assert (out / ("west_fd" + ext)).read_bytes() == (out / ("cli_fd" + ext)).read_bytes()
    # inside a build directory the build's files are the defaults
    build = ws / "build" / "zephyr"
    build.mkdir(parents=True)
    dotconfig(build / ".config")
    r = run([exe, "factory-data", "json", "--offset", "0xfb000", "--size", "0x1000"], cwd=str(ws), env=env)
    assert (build / "factory_data.hex").exists()
    r = run([exe, "factory-data", "inspect"], cwd=str(ws), env=env)
    assert "result: OK" in r.stdout
    shutil.copy(os.path.join(ROOT, "pm_static.yml.example"), ws / "pm_static.yml")
    r = run([exe, "factory-data", "layout", "check", "--flash_size", "0x100000", "--data",
             str(build / "factory_data.hex")], cwd=str(ws), env=env)
    assert "OK: factory_data at 0xfb000" in r.stdout
    r = run([exe, "factory-data", "onboarding", "--parse", "MT:Y.K9042C00KA0648G00"], cwd=str(ws), env=env)
    assert "20202021" in r.stdout
    r = run([exe, "factory-data", "inspect", str(tmp_path / "missing.hex")], cwd=str(ws), env=env, check=False)
    assert r.returncode == 1 and "cannot read" in r.stderr
    # a Telink build: the Kconfig choice picks the layout; the telink drop-in runs too
    cd = os.path.join(FIXTURES, "matter-credentials", "test-cd", "Test-CD-FFF1-8000.der")
    dotconfig(build / ".config", CONFIG_MATTER_FACTORY_DATA_FORMAT_TELINK="y",
              CONFIG_MATTER_FACTORY_DATA_CD_FILE=f'"{cd}"')
    r = run([exe, "factory-data", "json", "--offset", "0xff000", "--size", "0x1000", "--overwrite"], cwd=str(ws),
            env=env)
    r = run([exe, "factory-data", "inspect"], cwd=str(ws), env=env)
    assert ": telink factory data (" in r.stdout and "result: OK" in r.stdout
    att = os.path.join(FIXTURES, "matter-credentials", "test-attestation")
    r = run([exe, "factory-data", "telink", "-v", "0xFFF1", "-p", "0x8000", "-cd", cd, "--offset", "0xff000",
             "--size", "0x1000", "--pai", "-c", os.path.join(att, "Chip-Test-PAI-FFF1-8000-Cert.pem"), "-k",
             os.path.join(att, "Chip-Test-PAI-FFF1-8000-Key.pem"), "-n", "2", "--output", str(tmp_path / "tl")],
            cwd=str(ws), env=env)
    assert len((tmp_path / "tl" / "device_sn.csv").read_text().splitlines()) == 3


def test_in_process_with_a_configuration(tmp_path, monkeypatch):
    west_exe()
    from west.configuration import Configuration

    sys.path.insert(0, os.path.join(ROOT, "scripts", "west"))
    try:
        import factory_data_cmd
    finally:
        sys.path.pop(0)
    cmd = factory_data_cmd.FactoryData()
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cmd.add_parser(sub)
    out = tmp_path / "fd"
    args, unknown = parser.parse_known_args(["factory-data", "json", *ARGS, "-o", str(out)])
    monkeypatch.setenv("WEST_CONFIG_GLOBAL", str(tmp_path / "g"))
    monkeypatch.setenv("WEST_CONFIG_SYSTEM", str(tmp_path / "s"))
    monkeypatch.chdir(tmp_path)
    cmd.run(args, unknown, topdir=str(tmp_path), manifest=None, config=Configuration(topdir=str(tmp_path)))
    cli = tool("json", *ARGS, "-o", str(tmp_path / "cli"))
    assert cli.returncode == 0
    assert (tmp_path / "fd.json").read_bytes() == (tmp_path / "cli.json").read_bytes()
    assert (tmp_path / "fd.hex").read_bytes() == (tmp_path / "cli.hex").read_bytes()
