"""Property: model -> JSON -> CBOR -> HEX -> inspect gives back the same model."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matter_factory_data.production.batch import VARYING as BATCH_VARYING
from matter_factory_data.formats import nrfconnect
from matter_factory_data.inspection import inspect_bytes
from matter_factory_data.model import FactoryData
from strategies import factory_data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fd=factory_data(), offset=st.integers(0, 0x1F0000))
def test_model_json_cbor_hex_inspect_roundtrip(fd, offset):
    fd.validate()
    text = fd.to_json()
    doc = json.loads(text)
    assert json.dumps(doc) == text
    again = FactoryData.from_doc(doc)
    again.validate()
    assert again == fd
    cbor = nrfconnect.encode_cbor(doc)
    image = nrfconnect.image_bytes(cbor)
    hex_text = nrfconnect.to_intel_hex(image, offset)
    ins = inspect_bytes(hex_text, "x.hex", check_chain=False)
    assert ins.errors == []
    assert ins.offset == offset
    assert ins.model == fd
    # the same bytes through cbor2, the field's reference decoder
    import cbor2

    decoded = cbor2.loads(cbor)
    assert list(decoded) == list(doc)
    assert decoded["dac_key"] == fd.dac_key and decoded["sn"] == fd.sn.encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=factory_data(), devices=st.lists(factory_data(), min_size=1, max_size=4),
       hex_serial=st.booleans())
def test_doc_template_writes_the_general_encoders_bytes(base, devices, hex_serial):
    """A batch encodes the constant fields once; every device's JSON and image must still be exactly
    json.dumps(to_doc()) and encode_cbor(to_doc()) + terminator, whichever optional fields it has."""
    from matter_factory_data.formats.nrfconnect import DocTemplate
    from matter_factory_data.model import FIELD_SPECS

    template = DocTemplate(BATCH_VARYING)
    for i, other in enumerate([base, *devices]):
        fd = FactoryData(**{n: getattr(other if n in BATCH_VARYING else base, n) for n in FIELD_SPECS})
        if hex_serial and i == 1:
            fd.sn = "hex:41420a"
        doc = fd.to_doc()
        assert template.render(fd) == (json.dumps(doc).encode("ascii"), nrfconnect.image_bytes(nrfconnect.encode_cbor(doc)))
