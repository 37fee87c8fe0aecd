"""Results (protocol section 2): a SUB socket on the daemon's PUB, decoded into dicts."""

import math

import zmq

from . import keys, wire
from .errors import ProtocolError, Timeout

_DEFAULT = object()


def _ms(seconds):
    """Seconds (None: forever) as ZeroMQ milliseconds (-1: forever)."""
    return -1 if seconds is None else max(0, int(math.ceil(seconds * 1000)))


class Subscriber:
    """Receives result bodies published by spectrad, decoded into dicts whose ndarray maps are
    numpy arrays (read-only views of the received bytes; ``.copy()`` one to modify it).

    ``topics``: a topic prefix or a list of them: ``"s."`` every pipeline of stream ``s``,
    ``"s.top"`` pipeline ``top`` (and, as ZeroMQ matches prefixes, ``top2``), ``""`` everything.
    ``timeout``: seconds :meth:`recv` and iteration wait for a result (None: forever). Iterating
    yields bodies and stops when none arrives within ``timeout``::

        with spectra.Subscriber("s.", timeout=2.0) as sub:
            for body in sub:
                print(body["pipeline"], body["result"])

    ZeroMQ forwards subscriptions asynchronously: results published in the first milliseconds
    after the subscriber is made may be missed. The publisher drops results for subscribers that
    fall behind; ``lost`` counts the results missed, from gaps in each pipeline's ``seq``.
    ``hwm``: results queued on this side before ZeroMQ drops (None: ZeroMQ's 1000); raise it
    for pipelines that publish in bursts (one body per window or forecast origin).
    ``max_message_bytes``: refuse larger results (None: no limit).
    ``server_key``, ``key``: CURVE key files, as for :class:`spectra.Client`.
    """

    def __init__(self, topics="", publish=wire.DEFAULT_PUBLISH, timeout=None, context=None,
                 max_message_bytes=None, hwm=None, server_key=None, key=None, _curve=None):
        curve = _curve if _curve is not None else keys.load_curve(server_key, key)
        self.endpoint = publish
        self.timeout = timeout
        self.lost = 0
        self._last_seq = {}
        self._own_context = context is None
        self._ctx = zmq.Context() if context is None else context
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        if max_message_bytes:
            self._sock.setsockopt(zmq.MAXMSGSIZE, int(max_message_bytes))
        if hwm:
            self._sock.setsockopt(zmq.RCVHWM, int(hwm))
        keys.apply_curve(self._sock, curve)
        self._sock.connect(publish)
        for t in [topics] if isinstance(topics, str) else topics:
            self.subscribe(t)

    def subscribe(self, prefix):
        """Adds a topic prefix."""
        self._sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())

    def unsubscribe(self, prefix):
        """Removes a topic prefix added before."""
        self._sock.setsockopt(zmq.UNSUBSCRIBE, prefix.encode())

    def recv(self, timeout=_DEFAULT):
        """The next result body (a dict with ``v``, ``stream``, ``pipeline``, ``algo``, ``seq``,
        ``input_seq``, ``count``, ``t_in``, ``t_pub``, ``result``). Waits up to ``timeout`` seconds
        (default: the subscriber's; None: forever), then raises :class:`Timeout`. Raises
        :class:`ProtocolError` for a message that is not a protocol-1 result (the message is
        consumed; the next call reads the next one)."""
        if self._sock is None:
            raise ValueError("the subscriber is closed")
        timeout = self.timeout if timeout is _DEFAULT else timeout
        if not self._sock.poll(_ms(timeout), zmq.POLLIN):
            raise Timeout(f"no result from {self.endpoint} within {timeout:g} s")
        frames = self._sock.recv_multipart()
        if len(frames) != 2:
            raise ProtocolError(f"result message of {len(frames)} frames (want topic, body)")
        topic = frames[0].decode("utf-8", "replace")
        body = wire.unpack(frames[1], f"result {topic}")
        if not isinstance(body, dict):
            raise ProtocolError(f"result {topic}: body is not a map")
        if body.get("v") != wire.PROTOCOL_VERSION:
            raise ProtocolError(f"result {topic}: protocol version {body.get('v')!r}, "
                                f"this client speaks {wire.PROTOCOL_VERSION}")
        if f"{body.get('stream')}.{body.get('pipeline')}" != topic:
            raise ProtocolError(f"result {topic}: body names {body.get('stream')!r}."
                                f"{body.get('pipeline')!r}")
        self._count_gap(topic, body.get("seq"))
        return body

    def _count_gap(self, topic, seq):
        if type(seq) is not int:
            return
        last = self._last_seq.get(topic)
        # A smaller seq is a pipeline attached again under the same name: it starts over at 1.
        if last is not None and seq > last + 1:
            self.lost += seq - last - 1
        self._last_seq[topic] = seq

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self.recv()
        except Timeout:
            raise StopIteration from None

    def close(self):
        """Closes the socket (and the context the subscriber made for itself)."""
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
            if self._own_context:
                self._ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
