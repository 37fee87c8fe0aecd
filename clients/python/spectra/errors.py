"""Exceptions raised by the spectra client."""


class SpectraError(Exception):
    """Base class of every error this package raises on purpose."""


class DaemonError(SpectraError):
    """The daemon answered a control request with ``{"ok": false}``.

    ``code`` is the protocol's error code (``"unknown_stream"``, ``"bad_param"``, ...): branch on it.
    ``message`` is the daemon's explanation, meant for people.
    """

    def __init__(self, code, message, op=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.op = op

    def __str__(self):
        where = f"{self.op}: " if self.op else ""
        return f"{where}{self.code}: {self.message}"


class ProtocolError(SpectraError):
    """The peer sent something that is not protocol version 1 (malformed msgpack, extension types,
    a wrong frame count, a reply that is not a map, an ndarray whose data does not match its shape,
    ...)."""


class Timeout(SpectraError, TimeoutError):
    """No reply, result or send within the timeout. Also a built-in ``TimeoutError``."""
