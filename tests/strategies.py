"""Hypothesis strategies for valid factory data."""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from matter_factory_data.crypto import spake2p
from matter_factory_data.model import FactoryData


def text_bytes(lo: int, hi: int):
    return st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=lo, max_size=hi).filter(
        lambda s: lo <= len(s.encode()) <= hi and not s.startswith("hex:")
    )


passcodes = st.integers(1, spake2p.MAX_PASSCODE).filter(spake2p.is_valid_passcode)
dates = st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)).map(lambda d: d.isoformat())
user_values = st.one_of(text_bytes(0, 40), st.integers(-(2**31), 2**31 - 1))
users = st.dictionaries(text_bytes(1, 20), user_values, min_size=1, max_size=5)


@st.composite
def factory_data(draw, with_passcode=None) -> FactoryData:
    passcode = draw(passcodes)
    salt = draw(st.binary(min_size=16, max_size=32))
    it = draw(st.integers(1000, 1100))
    include = draw(st.booleans()) if with_passcode is None else with_passcode
    opt = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
    return FactoryData(
        sn=draw(text_bytes(1, 32)),
        vendor_id=draw(st.integers(0, 0xFFF4)),
        product_id=draw(st.integers(1, 0xFFFF)),
        vendor_name=draw(text_bytes(1, 32)),
        product_name=draw(text_bytes(1, 32)),
        product_label=opt(text_bytes(1, 64)),
        product_url=opt(text_bytes(1, 256)),
        part_number=opt(text_bytes(1, 32)),
        date=draw(dates),
        hw_ver=draw(st.integers(0, 0xFFFF)),
        hw_ver_str=draw(text_bytes(1, 64)),
        sw_ver_str=opt(text_bytes(1, 64)),
        dac_cert=draw(st.binary(min_size=1, max_size=600)),
        dac_key=draw(st.binary(min_size=32, max_size=32)),
        pai_cert=draw(st.binary(min_size=1, max_size=600)),
        passcode=passcode if include else None,
        spake2_it=it,
        spake2_salt=salt,
        spake2_verifier=spake2p.generate_verifier(passcode, salt, it),
        discriminator=draw(st.integers(0, 4095)),
        rd_uid=opt(st.binary(min_size=16, max_size=32)),
        enable_key=opt(st.binary(min_size=16, max_size=16)),
        product_finish=opt(st.integers(0, 5)),
        primary_color=opt(st.integers(0, 20)),
        user=opt(users),
    )
