"""The Python API: the calls the command line makes, for firmware CI scripts and factory tooling.

    from matter_factory_data import api
    device = api.Device(sn="SN-1", vendor_id=0xFFF1, ...)      # the one model (FIELD_SPECS holds its rules)
    image = api.encode("nxp", device, cd=cd_der)              # any format in api.FORMATS
    api.decode("nxp", image) == device

Requests (``NrfRequest``, ``NxpRequest``, ``Esp32Request``, ``BatchRequest``) take the command-line option
names as fields; ``write_nrfconnect``, ``write_nxp``, ``run_esp32`` and ``run_batch`` do what the
``json``, ``nxp``, ``esp32`` and ``batch`` commands do. Errors are ``InvalidInput`` (a rule was broken:
``.field`` and ``.rule`` say which) and ``OperationFailed`` (I/O, a refused overwrite); warnings and notes
go to the ``Report`` given (by default one that keeps them in ``.warnings`` and ``.infos``).
"""

from __future__ import annotations

from . import formats
from .crypto.spake2p import generate_verifier
from .errors import FactoryDataError, InvalidInput, OperationFailed
from .inspection import Inspection, inspect_file
from .model import FIELD_SPECS, FactoryData
from .pipelines import nrfconnect as _nrfconnect
from .pipelines import nxp as _nxp
from .production import batch as _batch
from .production import mfg_tool as _mfg_tool
from .provisioning import TestCredentials, test_credentials
from .requests import BatchRequest, Esp32Request, NrfRequest, NxpRequest

Device = FactoryData
FORMATS = formats.names()

__all__ = ["BatchRequest", "Device", "Esp32Request", "FIELD_SPECS", "FORMATS", "FactoryDataError", "InvalidInput",
           "Inspection", "NrfRequest", "NxpRequest", "OperationFailed", "Report", "decode", "encode",
           "TestCredentials", "generate_verifier", "inspect_file", "stored_fields", "test_credentials", "run_batch", "run_esp32", "write_nrfconnect", "write_nxp"]


class Report:
    """Where the library's warnings and information go: kept in lists, nothing printed."""

    prog = "matter-factory-data"

    def __init__(self):
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def info(self, message: str) -> None:
        self.infos.append(message)

    def debug(self, message: str) -> None:
        pass


def stored_fields(format_name: str) -> tuple[str, ...]:
    """The model fields a format stores."""
    return tuple(formats.get(format_name).FIELDS)


def encode(format_name: str, device: FactoryData, **options) -> bytes:
    """One device's image in a format (``FORMATS``); options as the format module documents them."""
    return formats.get(format_name).encode(device, options)


def decode(format_name: str, data: bytes, **options) -> FactoryData:
    """The device an image holds."""
    return formats.get(format_name).decode(data, options)


def write_nrfconnect(request: NrfRequest, report: Report | None = None) -> list[str]:
    """``matter-factory-data json``: returns the paths written."""
    return _nrfconnect.generate(request, report or Report()).paths()


def write_nxp(request: NxpRequest, report: Report | None = None) -> bytes:
    """``matter-factory-data nxp``: writes ``request.out`` and returns the image."""
    return _nxp.generate(request, report or Report())[0]


def run_esp32(request: Esp32Request, report: Report | None = None) -> dict:
    """``matter-factory-data esp32``: returns the summary CSV path and device counts."""
    return _mfg_tool.run(request, report or Report())


def run_batch(request: BatchRequest, report: Report | None = None) -> dict:
    """``matter-factory-data batch``: returns the batch directory, manifest path and device counts."""
    return _batch.run(request, report or Report())
