"""Python client of spectrad, the streaming estimator daemon (wire protocol version 1,
docs/protocol.md).

    import numpy as np, spectra

    with spectra.Client() as c:
        c.create("s", "rows", 3)
        c.attach("s", "top", "topeig", every=100)
        with c.subscribe("s.", timeout=2.0) as sub:
            c.push_rows("s", np.random.default_rng(1).standard_normal((1000, 3)))
            for body in sub:
                print(body["seq"], body["result"]["vector"])

Control errors are raised as :class:`DaemonError` (``.code``, ``.message``); missing replies as
:class:`Timeout`; malformed replies and results as :class:`ProtocolError`. For a daemon with
CURVE keys, pass ``server_key=`` and ``key=`` (key files, see :mod:`spectra.keys`).
"""

from .client import DEFAULT_MAX_PAYLOAD, DEFAULT_TIMEOUT, Client
from .errors import DaemonError, ProtocolError, SpectraError, Timeout
from .keys import KeyFileError, keygen, read_key
from .subscriber import Subscriber
from .wire import (DEFAULT_CONTROL, DEFAULT_INGEST, DEFAULT_PUBLISH, PROTOCOL_VERSION,
                   decode_ndarray, encode_ndarray, name_valid)

__version__ = "0.1.0"

__all__ = [
    "Client", "Subscriber", "SpectraError", "DaemonError", "ProtocolError", "Timeout",
    "KeyFileError", "keygen", "read_key",
    "decode_ndarray", "encode_ndarray", "name_valid", "PROTOCOL_VERSION", "DEFAULT_CONTROL",
    "DEFAULT_INGEST", "DEFAULT_PUBLISH", "DEFAULT_TIMEOUT", "DEFAULT_MAX_PAYLOAD", "__version__",
]
