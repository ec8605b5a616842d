"""The shipped JSON Schema and the model agree: every model-valid document passes the schema, and every
violation of a schema-expressible constraint fails both the model and the schema."""

import copy
import json
import os
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

from matter_factory_data.errors import InvalidInput
from matter_factory_data.model import FIELD_SPECS, MODEL_ONLY_RULES, FactoryData
from strategies import factory_data

OURS = json.loads(resources.files("matter_factory_data.data").joinpath("nrfconnect_factory_data.schema").read_text())
FORMAT = jsonschema.Draft202012Validator.FORMAT_CHECKER


def _valid(schema, doc):
    return not list(jsonschema.Draft202012Validator(schema, format_checker=FORMAT).iter_errors(doc))


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(OURS)
    assert OURS["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(OURS["properties"]) == set(FIELD_SPECS)
    assert set(OURS["required"]) == {k for k, s in FIELD_SPECS.items() if s.required}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fd=factory_data())
def test_every_model_valid_document_passes_the_schema(fd):
    fd.validate()
    doc = fd.to_doc()
    assert _valid(OURS, doc)


BASE = None


def _base():
    global BASE
    if BASE is None:
        from hypothesis import find

        BASE = find(factory_data(with_passcode=True), lambda fd: fd.user is not None and fd.rd_uid is not None
                    and fd.enable_key is not None and fd.product_finish is not None).to_doc()
    return copy.deepcopy(BASE)


VIOLATIONS = [
    ("version", 70000), ("version", -1), ("version", "1"),
    ("sn", ""), ("sn", "S" * 33), ("sn", 5),
    ("vendor_id", 0xFFF5), ("vendor_id", -1), ("vendor_id", "0xFFF1"),
    ("product_id", 0), ("product_id", 65536),
    ("vendor_name", "V" * 33), ("product_name", ""), ("product_label", "L" * 65), ("product_url", "u" * 257),
    ("part_number", "P" * 33),
    ("date", "2022-1-01"), ("date", "20220101"), ("date", "2022-02-30"),
    ("hw_ver", 65536), ("hw_ver_str", ""), ("hw_ver_str", "h" * 65), ("sw_ver_str", ""),
    ("dac_cert", "hex:"), ("dac_cert", "hex:" + "00" * 601), ("dac_cert", "3082"),
    ("dac_key", "hex:" + "00" * 31), ("dac_key", "hex:" + "00" * 33), ("dac_key", "hex:" + "zz" * 32),
    ("pai_cert", "hex:0"),
    ("passcode", 0), ("passcode", 99999999),
    ("spake2_it", 999), ("spake2_it", 100001),
    ("spake2_salt", "hex:" + "00" * 15), ("spake2_salt", "hex:" + "00" * 33),
    ("spake2_verifier", "hex:" + "00" * 96),
    ("discriminator", 4096), ("discriminator", -1),
    ("rd_uid", "hex:" + "00" * 15), ("rd_uid", "hex:" + "00" * 33),
    ("enable_key", "hex:" + "00" * 15),
    ("product_finish", 6), ("primary_color", 21),
    ("user", "text"), ("user", [1]),
]
REQUIRED = sorted(k for k, s in FIELD_SPECS.items() if s.required)


def _model_rejects(doc):
    try:
        FactoryData.from_doc(doc).validate()
    except InvalidInput:
        return True
    return False


@pytest.mark.parametrize("key,value", VIOLATIONS, ids=[f"{k}={str(v)[:12]}" for k, v in VIOLATIONS])
def test_violation_fails_model_and_schema(key, value):
    doc = _base()
    doc[key] = value
    assert _model_rejects(doc)
    assert not _valid(OURS, doc)


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_required_fails_model_and_schema(key):
    doc = _base()
    del doc[key]
    assert _model_rejects(doc)
    assert not _valid(OURS, doc)


@pytest.mark.parametrize("key,value", [
    ("passcode", 11111111), ("passcode", 12345678), ("date", "2023-02-30"), ("v", 1), ("product", 5),
    ("spake2_verifier", "hex:" + "00" * 97), ("sn", "é" * 17),
])
def test_model_only_rules(key, value):
    """Rules a JSON Schema cannot express: the model rejects, the schema (without them) accepts."""
    doc = _base()
    doc[key] = value
    assert _model_rejects(doc)
    if key not in ("date",):  # format: date is checked by the schema's format checker
        assert not list(jsonschema.Draft202012Validator(OURS).iter_errors(doc)) or key == "spake2_verifier"


def test_model_only_rules_are_documented():
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    for rule in MODEL_ONLY_RULES:
        assert rule in readme
