"""Typed requests: every command-line option of a command is one field of the request it builds."""

from __future__ import annotations

import argparse

import pytest

from matter_factory_data.cli import batch_cmd, esp32_cmd, json_cmd, nxp_cmd
from matter_factory_data.cli.common import CLI_ONLY, request_from
from matter_factory_data.requests import BatchRequest, Esp32Request, NrfRequest, NxpRequest

DOORS = [(json_cmd, NrfRequest), (nxp_cmd, NxpRequest), (esp32_cmd, Esp32Request), (batch_cmd, BatchRequest)]


@pytest.mark.parametrize("module,cls", DOORS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_option_is_a_request_field_and_required_means_no_default(module, cls):
    parser = module.build_parser("x")
    fields = cls._fields
    defaults = cls._field_defaults
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in CLI_ONLY:
            continue
        assert action.dest in fields, f"{cls.__name__} lacks {action.dest}"
        assert action.required == (action.dest not in defaults), action.dest
        if not action.required and not isinstance(action.default, str):  # string defaults may be machine paths
            assert defaults[action.dest] == action.default, action.dest


def test_a_parsed_command_line_becomes_the_request():
    args = nxp_cmd.build_parser("nxp").parse_args([
        "-i", "1000", "-s", "U1BBS0UyUCBLZXkgU2FsdA==", "-p", "20202021", "-d", "0xF00", "--vid", "0xFFF1",
        "--pid", "0x8000", "--vendor_name", "V", "--product_name", "P", "--hw_version", "1", "--hw_version_str",
        "1.0", "--cert_declaration", "cd.der", "--pai_cert", "pai.der", "--out", "fd.bin"])
    req = request_from(NxpRequest, args)
    assert (req.it, req.salt, req.discriminator, req.vid, req.out) == (1000, b"SPAKE2P Key Salt", 0xF00, 0xFFF1,
                                                                        "fd.bin")
    assert req.aes128_key is None and req.hw_params is False


def test_an_option_without_a_field_is_a_programming_error():
    with pytest.raises(TypeError, match=r"NxpRequest has no field for \['stray'\]"):
        request_from(NxpRequest, argparse.Namespace(stray=1))
