"""Reading factory data documents (JSON) strictly: duplicate keys and non-finite numbers are errors."""

from __future__ import annotations

import json

from .errors import InvalidInput


def _pairs(what: str):
    def hook(items):
        out = {}
        for k, v in items:
            if k in out:
                raise InvalidInput(what, f"duplicate key {k!r} (the device would keep only the last value)")
            out[k] = v
        return out

    return hook


def _no_constant(what: str):
    def hook(name):
        raise InvalidInput(what, f"{name} is not a valid JSON number")

    return hook


def loads(text: str | bytes, what: str) -> dict:
    try:
        doc = json.loads(text, object_pairs_hook=_pairs(what), parse_constant=_no_constant(what))
    except InvalidInput:
        raise
    except UnicodeDecodeError:
        raise InvalidInput(what, "is not UTF-8 text") from None
    except ValueError as e:
        raise InvalidInput(what, f"is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise InvalidInput(what, "must be a JSON object at the top level")
    return doc
