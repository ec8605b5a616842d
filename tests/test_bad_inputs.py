"""Every invalid input: its exit code, one line on stderr naming the problem, no traceback, no output file."""

import os

import pytest

from conftest import NRF_REF, assert_clean_error, ref_args, run_script

KEY = os.path.join(NRF_REF, "DAC_key.der")
CREDS = os.path.join(os.path.dirname(NRF_REF), "matter-credentials")
V_WRONG = "uWFwqugDNGiEck/po7KHwwMwwqZgN10XuyBajPGuyzUEV/iree4lOrao5GuwnlQ65CJzbeUB49s31EH+NEkg0JVI5MGCQGMMT/SRPFNRODm3wH/MBiehuFc6FJ/NH6Rmzw=="

# (id, changes to the reference test-1 arguments, exit code, fragments of the error line)
GENERATOR_CASES = [
    ("vid-not-int", {"vendor_id": "12x"}, 2, ["--vendor_id", "not an integer"]),
    ("pid-not-int", {"product_id": "0xZZ"}, 2, ["--product_id", "not an integer"]),
    ("hw-ver-octal-like", {"hw_ver": "08"}, 2, ["--hw_ver", "not an integer"]),
    ("vid-too-big", {"vendor_id": "0xFFF5"}, 2, ["vendor_id", "65525 is out of range"]),
    ("pid-zero", {"product_id": "0"}, 2, ["product_id", "0 is out of range"]),
    ("hw-ver-too-big", {"hw_ver": "65536"}, 2, ["hw_ver", "out of range"]),
    ("discriminator-4096", {"discriminator": "4096"}, 2, ["discriminator", "4096 is out of range"]),
    ("discriminator-negative", {"discriminator": "-1"}, 2, ["discriminator"]),
    ("passcode-0", {"passcode": "0", "spake2_verifier": None}, 2, ["--passcode", "out of range"]),
    ("passcode-11111111", {"passcode": "11111111", "spake2_verifier": None}, 2, ["--passcode", "not allowed"]),
    ("passcode-12345678", {"passcode": "12345678", "spake2_verifier": None}, 2, ["--passcode", "not allowed"]),
    ("passcode-87654321", {"passcode": "87654321", "spake2_verifier": None}, 2, ["--passcode", "not allowed"]),
    ("passcode-99999999", {"passcode": "99999999", "spake2_verifier": None}, 2, ["--passcode", "out of range"]),
    ("passcode-too-big", {"passcode": "100000000", "spake2_verifier": None}, 2, ["--passcode", "out of range"]),
    ("iterations-999", {"spake2_it": "999", "spake2_verifier": None}, 2, ["--spake2_it", "999 is out of range"]),
    ("iterations-100001", {"spake2_it": "100001", "spake2_verifier": None}, 2, ["--spake2_it", "out of range"]),
    ("salt-15-bytes", {"spake2_salt": "MTIzNDU2Nzg5MDEyMzQ1", "spake2_verifier": None}, 2, ["--spake2_salt", "got 15"]),
    ("salt-33-bytes", {"spake2_salt": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIz", "spake2_verifier": None}, 2,
     ["--spake2_salt", "got 33"]),
    ("salt-bad-base64", {"spake2_salt": "not*base64"}, 2, ["--spake2_salt", "not valid Base64"]),
    ("verifier-bad-base64", {"spake2_verifier": "@@@"}, 2, ["--spake2_verifier", "not valid Base64"]),
    ("verifier-mismatch", {"spake2_verifier": V_WRONG}, 2, ["--spake2_verifier", "does not match"]),
    ("verifier-short", {"spake2_verifier": "AAAA", "passcode": None, "generate_onboarding": None}, 2, ["--spake2_verifier", "97 bytes"]),
    ("date-feb-30", {"date": "2023-02-30"}, 2, ["date", "not a real calendar date"]),
    ("date-format", {"date": "20/07/2022"}, 2, ["date", "YYYY-MM-DD"]),
    ("date-month-13", {"date": "2022-13-01"}, 2, ["date", "calendar date"]),
    ("sn-too-long", {"sn": "S" * 33}, 2, ["sn", "33 bytes long, the maximum is 32"]),
    ("sn-utf8-too-long", {"sn": "é" * 17}, 2, ["sn", "34 bytes long"]),
    ("vendor-name-too-long", {"vendor_name": "V" * 33}, 2, ["vendor_name", "maximum is 32"]),
    ("label-too-long", {"product_label": "L" * 65}, 2, ["product_label", "maximum is 64"]),
    ("url-too-long", {"product_url": "u" * 257}, 2, ["product_url", "maximum is 256"]),
    ("hw-ver-str-too-long", {"hw_ver_str": "h" * 65}, 2, ["hw_ver_str", "maximum is 64"]),
    ("product-name-empty", {"product_name": ""}, 2, ["product_name", "required"]),
    ("rd-uid-odd-hex", {"rd_uid": "abc"}, 2, ["--rd_uid", "not a hex string"]),
    ("rd-uid-not-hex", {"rd_uid": "zz" * 16}, 2, ["--rd_uid", "not a hex string"]),
    ("rd-uid-short", {"rd_uid": "00" * 15}, 2, ["rd_uid", "16..32 bytes, got 15"]),
    ("rd-uid-long", {"rd_uid": "00" * 33}, 2, ["rd_uid", "got 33"]),
    ("enable-key-short", {"enable_key": "0011"}, 2, ["enable_key", "exactly 16 bytes"]),
    ("user-not-json", {"user": "{name: 1}"}, 2, ["--user", "not valid JSON"]),
    ("user-not-object", {"user": "[1, 2]"}, 2, ["--user", "JSON object"]),
    ("user-float", {"user": '{"a": 1.5}'}, 2, ["user.a", "floating-point"]),
    ("user-duplicate", {"user": '{"a": 1, "a": 2}'}, 2, ["--user", "duplicate key 'a'"]),
    ("dac-key-missing-file", {"dac_key": "/nonexistent/key.der"}, 1, ["--dac_key", "cannot read"]),
    ("dac-key-is-cert", {"dac_key": os.path.join(NRF_REF, "DAC_cert.der")}, 2, ["--dac_key", "not a DER or PEM private key"]),
    ("dac-key-wrong-password", {"dac_key_password": "secret"}, 2, ["--dac_key", "not encrypted"]),
    ("dac-cert-not-cert", {"dac_cert": KEY}, 2, ["--dac_cert"]),
    ("dac-key-mismatch", {"dac_key": os.path.join(CREDS, "test-attestation", "Chip-Test-DAC-FFF1-8000-0000-Key.der")}, 2,
     ["DAC key does not match"]),
    ("vid-mismatch-with-dac", {"vendor_id": "0x1280"}, 2, ["vendor_id 0x1280 differs from the DAC vendor ID 0x127F"]),
    ("pid-mismatch-with-dac", {"product_id": "0xABCE"}, 2, ["product_id 0xABCE differs"]),
    ("bad-colour", {"product_color": "pink"}, 2, ["--product_color", "invalid choice"]),
    ("bad-finish", {"product_finish": "shiny"}, 2, ["--product_finish", "invalid choice"]),
    ("offset-without-size", {"offset": "0xfb000"}, 2, ["--offset/--size", "both"]),
    ("oversize-partition", {"offset": "0xfb000", "size": "0x100"}, 2, ["--size", "partition holds 256"]),
    ("schema-missing", {"s": "/nonexistent/schema.json"}, 1, ["--schema", "cannot read"]),
]


@pytest.mark.parametrize("case", GENERATOR_CASES, ids=[c[0] for c in GENERATOR_CASES])
def test_generator_rejects(tmp_path, case):
    _, changes, code, fragments = case
    changes = {("-" + k if k == "s" else k): v for k, v in changes.items()}
    if "offset" not in changes:
        changes.update(offset="0xfb000", size="0x1000")
    changes.setdefault("generate_onboarding", True)
    r, out = _run_with_removed(tmp_path, changes)
    assert_clean_error(r, code, *fragments)
    assert os.listdir(out.parent) == []


def _run_with_removed(tmp_path, changes):
    out = tmp_path / "out" / "fd"
    out.parent.mkdir(exist_ok=True)
    return run_script("generate_factory_data.py", *ref_args(str(out), **changes)), out


@pytest.mark.parametrize("changes,code,fragments", [
    ({"vendor_name": None}, 2, ["vendor_name", "required"]),
    ({"passcode": None, "spake2_verifier": None}, 2, ["--passcode"]),
    ({"dac_cert": None}, 2, ["--dac_cert", "required"]),
    ({"sn": None}, 2, ["--sn", "required"]),
    ({"passcode": None, "generate_onboarding": True}, 2, ["--generate_onboarding"]),
])
def test_generator_rejects_missing(tmp_path, changes, code, fragments):
    r, out = _run_with_removed(tmp_path, changes)
    assert_clean_error(r, code, *fragments)
    assert os.listdir(out.parent) == []


def test_existing_output_not_overwritten(tmp_path):
    for output in ("fd.json", "fd"):
        out = tmp_path / output
        (tmp_path / "fd.json").write_text("precious")
        r = run_script("generate_factory_data.py", *ref_args(str(out)))
        assert_clean_error(r, 1, "already exists", "--overwrite")
        assert (tmp_path / "fd.json").read_text() == "precious"
    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "fd.json"), overwrite=True))
    assert r.code == 0
    assert (tmp_path / "fd.json").read_text().startswith('{"version": 1')


def test_existing_hex_blocks_the_whole_run(tmp_path):
    (tmp_path / "fd.hex").write_text("keep")
    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "fd"), offset="0xfb000", size="0x1000"))
    assert_clean_error(r, 1, "fd.hex", "already exists")
    assert sorted(os.listdir(tmp_path)) == ["fd.hex"]


def test_missing_output_directory_is_made(tmp_path):
    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "nodir" / "deeper" / "fd")))
    assert r.code == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "nodir" / "deeper")) == ["fd.json"]


def test_a_failed_run_removes_the_directories_it_made(tmp_path):
    r = run_script("generate_factory_data.py", *ref_args(str(tmp_path / "nodir" / "fd"), hw_ver="70000"))
    assert_clean_error(r, 2, "hw_ver")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("output", ["{tmp}/", "", "{tmp}/.json", "{tmp}"])
def test_an_output_prefix_that_names_a_directory_is_refused(tmp_path, output):
    r = run_script("generate_factory_data.py", *ref_args(output.format(tmp=tmp_path)))
    assert_clean_error(r, 2, "-o/--output", "names a directory, not a file prefix")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- partition builder

PARTITION_CASES = [
    ("prefix-key", '{"v": 7}', 2, ["key 'v'", "prefix of the known key 'version'"]),
    ("empty-key", '{"": 1}', 2, ["key ''", "prefix"]),
    ("prefix-product", '{"product": 5}', 2, ["key 'product'", "'product_id'"]),
    ("float", '{"version": 1.5}', 2, ["version", "must be an integer"]),
    ("float-unknown", '{"weight": 1.5}', 2, ["weight", "floating-point"]),
    ("negative", '{"hw_ver": -1}', 2, ["hw_ver", "negative"]),
    ("negative-unknown", '{"offset_x": -1}', 2, ["offset_x", "negative"]),
    ("duplicate", '{"sn": "a", "sn": "b"}', 2, ["duplicate key 'sn'"]),
    ("not-json", '{"sn": ', 2, ["not valid JSON"]),
    ("not-object", '[1, 2]', 2, ["JSON object"]),
    ("empty-object", '{}', 2, ["empty object"]),
    ("bad-hex", '{"dac_key": "hex:zz"}', 2, ["dac_key", "not a hex string"]),
    ("odd-hex", '{"key": "hex:abc"}', 2, ["key", "odd number"]),
    ("dac-key-31", '{"dac_key": "hex:' + "00" * 31 + '"}', 2, ["dac_key", "exactly 32 bytes, got 31"]),
    ("bytes-not-hex-prefixed", '{"dac_cert": "3082"}', 2, ["dac_cert", "hex:"]),
    ("bool-top-level", '{"flag": true}', 2, ["flag", "boolean"]),
    ("nan", '{"x": NaN}', 2, ["NaN is not a valid JSON number"]),
    ("bad-date", '{"date": "2023-02-30"}', 2, ["date", "calendar"]),
    ("user-not-object", '{"user": "x"}', 2, ["user", "JSON object"]),
]


@pytest.mark.parametrize("case", PARTITION_CASES, ids=[c[0] for c in PARTITION_CASES])
def test_partition_rejects(tmp_path, case):
    _, text, code, fragments = case
    src = tmp_path / "in.json"
    src.write_text(text)
    (tmp_path / "out").mkdir()
    r = run_script("generate_partition.py", "-i", str(src), "-o", str(tmp_path / "out" / "p"), "--offset", "0",
                   "--size", "0x1000")
    assert_clean_error(r, code, *fragments)
    assert os.listdir(tmp_path / "out") == []


def test_partition_missing_input(tmp_path):
    r = run_script("generate_partition.py", "-i", str(tmp_path / "none.json"), "-o", str(tmp_path / "p"),
                   "--offset", "0", "--size", "0x1000")
    assert_clean_error(r, 1, "--input", "cannot read")


def test_partition_bad_size_argument(tmp_path):
    r = run_script("generate_partition.py", "-i", "x.json", "-o", "p", "--offset", "0", "--size", "4k")
    assert_clean_error(r, 2, "--size", "not an integer")


def test_inspect_rejects_garbage(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\xff" * 64)
    r = run_script("inspect", str(f))
    assert r.code == 2 and "erased flash" in r.stdout and "Traceback" not in r.stderr


def test_unknown_command():
    assert_clean_error(run_script("frobnicate"), 2, "unknown command")


@pytest.mark.parametrize("command,choices", [("cd", "(generate, inspect)"), ("certs", "(paa, pai, dac, generate, verify)"),
                                             ("layout", "(check)")])
def test_unknown_subcommand_names_the_command_once(command, choices):
    r = run_script(command, "bogus")
    assert_clean_error(r, 2, f"matter-factory-data {command}: error: unknown subcommand 'bogus' {choices}")
    assert r.stderr.count("matter-factory-data") == 1


@pytest.mark.parametrize("command,sub,example", [
    ("certs", "dac", "matter-factory-data certs pai --cn"), ("certs", "paa", "matter-factory-data certs verify --dac"),
    ("cd", "generate", "matter-factory-data cd inspect CD.der"), ("cd", "inspect", "matter-factory-data cd generate --vendor_id"),
])
def test_subcommand_help_examples_name_the_group(command, sub, example):
    """A subcommand's --help shows its group's examples, each prefixed by the group, not by the subcommand."""
    r = run_script(command, sub, "--help")
    assert r.code == 0
    assert example in r.stdout
    assert f"matter-factory-data {command} {sub} {example.split()[2]}" not in r.stdout
