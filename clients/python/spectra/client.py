"""The spectrad client: control requests (protocol section 3) and ingest pushes (section 1)."""

import math
import time

import numpy as np
import zmq

from . import keys, wire
from .errors import DaemonError, ProtocolError, Timeout
from .subscriber import Subscriber, _ms

from .wire import DEFAULT_CONTROL, DEFAULT_INGEST, DEFAULT_PUBLISH

DEFAULT_TIMEOUT = 5.0

# Pushes of large arrays are split so that one message stays well below the daemon's default
# max_message_bytes (64 MiB, refused by ZeroMQ with a dropped connection beyond it).
DEFAULT_MAX_PAYLOAD = 16 << 20

_MISSING = object()


def _payload_array(data, what, allow_i16=False):
    """``data`` as a C-contiguous little-endian 2-D array of f64, f32 (or i16): (array, wire dtype)."""
    a = np.asarray(data)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got {a.ndim}-D")
    if a.dtype.kind == "f" and a.dtype.itemsize == 4:
        name = "f32"
    elif allow_i16 and a.dtype.kind == "i" and a.dtype.itemsize == 2:
        name = "i16"
    elif a.dtype.kind in "fiub":
        name = "f64"
    else:
        raise TypeError(f"{what}: cannot send numbers of dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=wire.INGEST_DTYPES[name])
    return a, name


def _check_finite(a, what):
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{what} holds NaN or infinite values (the daemon refuses them)")


class Client:
    """A connection to one spectrad: control requests, pushes, and subscribers.

    ``control``, ``ingest``, ``publish``: the daemon's ZeroMQ endpoints.
    ``timeout``: seconds to wait for a control reply (raises :class:`spectra.Timeout`).
    ``send_timeout``: seconds a push may wait while the daemon applies backpressure; None (the
    default) blocks until the daemon takes the message, which is how producers are paced.
    ``send_hwm``: ingest high-water mark in messages (None: ZeroMQ's 1000).
    ``linger``: seconds :meth:`close` waits for queued pushes to be delivered; None (the default)
    waits until they are, so a producer that pushes and exits loses nothing (but hangs if the daemon
    never comes back).
    ``max_message_bytes``: refuse replies and results larger than this (ZMQ_MAXMSGSIZE; None: no
    limit).
    ``server_key``, ``key``: for a daemon with CURVE keys, the daemon's public key file and this
    client's secret key file (zcert format, e.g. from ``spectra keygen``; see :mod:`spectra.keys`).
    Both or neither; read here, so a bad file raises :class:`spectra.keys.KeyFileError` at once.

    Sockets are connected on first use, so making a Client never fails for an absent daemon. A
    timed-out request closes its control socket, so a late reply can never be taken for the answer
    to a later request. Not thread-safe: use one Client per thread. Use as a context manager, or
    call :meth:`close`.
    """

    def __init__(self, control=DEFAULT_CONTROL, ingest=DEFAULT_INGEST, publish=DEFAULT_PUBLISH,
                 timeout=DEFAULT_TIMEOUT, send_timeout=None, send_hwm=None, linger=None,
                 max_message_bytes=None, max_payload_bytes=DEFAULT_MAX_PAYLOAD, context=None,
                 server_key=None, key=None):
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self._curve = keys.load_curve(server_key, key)
        self.control_endpoint = control
        self.ingest_endpoint = ingest
        self.publish_endpoint = publish
        self.timeout = float(timeout)
        self.max_message_bytes = max_message_bytes
        self.max_payload_bytes = int(max_payload_bytes)
        self._send_timeout = send_timeout
        self._send_hwm = send_hwm
        self._linger = linger
        self._own_context = context is None
        self._ctx = zmq.Context() if context is None else context
        self._control = None
        self._ingest = None
        self._subscribers = []
        self._next_id = 1
        self._seq = {}
        self._closed = False

    # ---- lifetime ------------------------------------------------------------------------------

    def close(self, linger=_MISSING):
        """Closes every socket (subscribers made by :meth:`subscribe` included). Queued pushes are
        delivered for up to ``linger`` seconds (default: the constructor's ``linger``)."""
        if self._closed:
            return
        self._closed = True
        for sub in self._subscribers:
            sub.close()
        self._subscribers = []
        self._reset_control()
        if self._ingest is not None:
            self._ingest.close(linger=_ms(self._linger if linger is _MISSING else linger))
            self._ingest = None
        if self._own_context:
            self._ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self):
        if self._closed:
            raise ValueError("the client is closed")

    # ---- control -------------------------------------------------------------------------------

    def _control_socket(self):
        if self._control is None:
            s = self._ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDTIMEO, _ms(self.timeout))
            if self.max_message_bytes:
                s.setsockopt(zmq.MAXMSGSIZE, int(self.max_message_bytes))
            keys.apply_curve(s, self._curve)
            s.connect(self.control_endpoint)
            self._control = s
        return self._control

    def _reset_control(self):
        # Whatever the socket still holds (a late reply) goes with it; the next request reconnects.
        if self._control is not None:
            self._control.close(linger=0)
            self._control = None

    def request(self, op, fields=None, timeout=None):
        """Sends ``{"op": op, "id": <fresh>, **fields}`` and returns the reply map (``"ok"`` true).

        Raises :class:`DaemonError` for ``{"ok": false}``, :class:`Timeout` when no reply comes
        within ``timeout`` seconds (default: the client's), :class:`ProtocolError` for a reply that
        is not a protocol-1 reply map. ndarray maps in the reply are numpy arrays. Numpy arrays in
        ``fields`` are sent as ndarray maps."""
        self._check_open()
        rid = self._next_id
        self._next_id += 1
        req = {"op": op}
        req.update(fields or {})
        req["id"] = rid
        body = wire.pack(req)
        timeout = self.timeout if timeout is None else timeout
        sock = self._control_socket()
        deadline = time.monotonic() + timeout
        try:
            # DEALER with an explicit empty delimiter: the daemon mirrors it, as for REQ, but a
            # DEALER is never stuck waiting for a reply that does not come.
            sock.send_multipart([b"", body])
        except zmq.Again:
            self._reset_control()
            raise Timeout(f"{op}: could not send to {self.control_endpoint} within {timeout:g} s")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._reset_control()
                raise Timeout(f"{op}: no reply from {self.control_endpoint} within {timeout:g} s "
                              "(is spectrad running?)")
            if not sock.poll(_ms(left), zmq.POLLIN):
                continue
            frames = sock.recv_multipart()
            try:
                if len(frames) != 2 or frames[0] != b"":
                    raise ProtocolError(f"{op}: reply of {len(frames)} frames (want the empty "
                                        "delimiter and one map)")
                reply = wire.unpack(frames[1], f"{op} reply")
                if not isinstance(reply, dict):
                    raise ProtocolError(f"{op} reply: not a map")
            except ProtocolError:
                self._reset_control()
                raise
            got = reply.get("id", _MISSING)
            # A reply without an id answers a request the daemon could not read: ours, since a
            # timed-out request's socket is gone. Any other id is a late answer to an earlier one.
            if got is not _MISSING and not (type(got) is int and got == rid):
                continue
            return self._check_reply(op, reply)

    @staticmethod
    def _check_reply(op, reply):
        ok = reply.get("ok")
        if ok is True:
            return reply
        if ok is not False:
            raise ProtocolError(f"{op} reply: no boolean \"ok\"")
        err = reply.get("error")
        if not isinstance(err, dict) or not isinstance(err.get("code"), str):
            raise ProtocolError(f"{op} reply: failed without an error map")
        message = err.get("message")
        raise DaemonError(err["code"], message if isinstance(message, str) else "", op)

    @staticmethod
    def _without_envelope(reply):
        return {k: v for k, v in reply.items() if k not in ("ok", "id")}

    @staticmethod
    def _key(op, reply, key):
        if key not in reply:
            raise ProtocolError(f"{op} reply: no \"{key}\"")
        return reply[key]

    def ping(self):
        """``{"version", "protocol", "uptime_s"}`` of the daemon."""
        return self._without_envelope(self.request("ping"))

    def create(self, stream, kind, dim, rate=None, channel_names=None, channel_units=None,
               durability=None, dedupe=None):
        """Creates a stream. ``kind``: ``"rows"``, ``"series"`` or ``"blocks"``; ``dim``: the row
        width d (rows), the channel count C (series) or the row count m of every block (blocks).
        ``rate`` (Hz), ``channel_names`` and ``channel_units`` (lists of C str, series only) are
        optional. ``durability``: ``"none"``, ``"snapshot"`` or ``"journal"`` (None: the daemon's
        default); ``dedupe``: drop messages whose ``seq`` the stream has already accepted (None:
        the daemon's default, off). Errors: ``exists``, ``bad_name``, ``bad_request``."""
        fields = {"stream": stream, "kind": kind, "dim": int(dim)}
        if rate is not None:
            fields["rate"] = float(rate)
        if channel_names is not None:
            fields["channel_names"] = [str(n) for n in channel_names]
        if channel_units is not None:
            fields["channel_units"] = [str(u) for u in channel_units]
        if durability is not None:
            if durability not in ("none", "snapshot", "journal"):
                raise ValueError(f"durability {durability!r} is not none, snapshot or journal")
            fields["durability"] = durability
        if dedupe is not None:
            fields["dedupe"] = bool(dedupe)
        self.request("create", fields)

    def save(self, stream=None):
        """Starts a snapshot of ``stream`` now (None: of every durable stream) and returns
        ``{"snapshots": started}``, with ``"messages"`` (the stream message number the snapshot
        covers) when a stream is given. The file is written in the background: it is on disk once
        :meth:`position` shows ``snapshot_messages >= messages``. Errors: ``bad_request`` (no
        state dir, or durability none), ``unknown_stream``."""
        fields = {} if stream is None else {"stream": stream}
        return self._without_envelope(self.request("save", fields))

    def position(self, stream):
        """How far ``stream`` is accepted, applied and durable: ``{"stream", "durability",
        "messages", "last_seq", "applied_messages", "durable_messages", "durable_seq",
        "snapshot_messages", "snapshot_seq"}``; the ``*_seq`` values and ``snapshot_messages``
        are None when there is none. A restarted producer resumes after ``durable_seq``."""
        return self._without_envelope(self.request("position", {"stream": stream}))

    def drop(self, stream):
        """Drops a stream with its pipelines (their queued inputs are discarded)."""
        self.request("drop", {"stream": stream})

    def list(self):
        """The streams: a list of ``{"stream", "kind", "dim", "rate", "channel_names",
        "channel_units", "messages", "count", "pipelines":
        [{"pipeline", "algo", "params", "every", "interval_ms", "published"}]}``."""
        return self._key("list", self.request("list"), "streams")

    def attach(self, stream, pipeline, algo, every=None, interval_ms=None, **params):
        """Starts algorithm ``algo`` as pipeline ``pipeline`` on ``stream``; ``params`` are the
        algorithm's parameters (str, int, float or bool; the daemon validates them: ``bad_param``).
        Publish after every ``every`` inputs and/or every ``interval_ms`` milliseconds (None: the
        daemon's defaults, 0 and 250; both 0: only on :meth:`get` and at end of stream)."""
        fields = {"stream": stream, "pipeline": pipeline, "algo": algo}
        if params:
            for k, v in params.items():
                if v is None or not isinstance(v, (str, bool, int, float, np.integer, np.floating)):
                    raise TypeError(f"parameter {k}: {type(v).__name__} is not str, number or bool")
            fields["params"] = params
        if every is not None:
            fields["every"] = int(every)
        if interval_ms is not None:
            fields["interval_ms"] = int(interval_ms)
        self.request("attach", fields)

    def detach(self, stream, pipeline):
        """Stops a pipeline."""
        self.request("detach", {"stream": stream, "pipeline": pipeline})

    def get(self, stream, pipeline, /, detail=None, **args):
        """Without ``detail``: the pipeline's up-to-date result body (as published, section 2) after
        every input accepted before the request, or None when nothing has been applied yet.
        (Accepted: read by the daemon; see :meth:`wait_accepted` for pushes just made.)

        With ``detail``: the value of that named view of the pipeline's state (see the ``algos``
        op's ``commands``), computed after the same inputs; keyword ``args`` are its arguments.
        An unknown detail raises DaemonError ``unknown_op``."""
        fields = {"stream": stream, "pipeline": pipeline}
        if detail is None:
            if args:
                raise TypeError("arguments need a detail")
            return self._key("get", self.request("get", fields), "result")
        fields["detail"] = detail
        if args:
            fields["args"] = args
        return self._key("get", self.request("get", fields), "value")

    def call(self, stream, pipeline, method, /, **args):
        """Runs the named operation ``method`` of a pipeline (e.g. ``fit``, ``recluster``) in order
        with its inputs and returns its value; keyword ``args`` are its arguments (numpy arrays go
        as ndarray maps)."""
        fields = {"stream": stream, "pipeline": pipeline, "method": method}
        if args:
            fields["args"] = args
        return self._key("call", self.request("call", fields), "value")

    def stats(self):
        """Every counter the daemon keeps (protocol section 3, ``stats``), as a dict."""
        return self._without_envelope(self.request("stats"))

    def algos(self):
        """The pipeline kinds of this daemon: a list of ``{"algo", "summary", "commands", "kinds"}``."""
        return self._key("algos", self.request("algos"), "algos")

    def wait_accepted(self, stream, timeout=10.0):
        """Waits until the daemon has accepted every message this client pushed to ``stream`` (its
        ``last_seq`` in :meth:`stats` has reached ours) and returns the stream's stats.

        Pushes travel on the ingest socket and control requests on another, so a :meth:`get` sent
        right after a push can reach the daemon first; call this in between when the answer must
        include the pushes. Meant for a stream this client alone produces. A rejected message is
        never accepted: the wait then raises :class:`Timeout` naming the stream's errors."""
        want = self.next_seq(stream) - 1
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats().get("streams", {}).get(stream)
            if s and type(s.get("last_seq")) is int and s["last_seq"] >= want:
                return s
            if time.monotonic() >= deadline:
                errors = s.get("errors") if s else "stream unknown"
                raise Timeout(f"{stream}: message {want} not accepted within {timeout:g} s "
                              f"(errors: {errors})")
            time.sleep(0.01)

    def wait_ready(self, timeout=10.0):
        """Pings until the daemon answers (for scripts that start one); raises Timeout after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                return self.request("ping", timeout=max(0.05, min(0.5, left)))
            except Timeout:
                if time.monotonic() >= deadline:
                    raise Timeout(f"spectrad at {self.control_endpoint} did not answer within "
                                  f"{timeout:g} s") from None

    # ---- results -------------------------------------------------------------------------------

    def subscribe(self, topics="", timeout=None, hwm=None):
        """A :class:`Subscriber` on this daemon's results for topic prefixes ``topics`` (a str or a
        list: ``"s."`` every pipeline of stream s, ``"s.top"`` one pipeline, ``""`` everything);
        closed with the client. ``timeout`` and ``hwm`` as for :class:`Subscriber`."""
        self._check_open()
        sub = Subscriber(topics, publish=self.publish_endpoint, timeout=timeout,
                         context=self._ctx, max_message_bytes=self.max_message_bytes, hwm=hwm,
                         _curve=self._curve)
        self._subscribers.append(sub)
        return sub

    # ---- ingest --------------------------------------------------------------------------------

    def _ingest_socket(self):
        if self._ingest is None:
            s = self._ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, _ms(self._linger))
            s.setsockopt(zmq.SNDTIMEO, _ms(self._send_timeout))
            if self._send_hwm:
                s.setsockopt(zmq.SNDHWM, int(self._send_hwm))
            keys.apply_curve(s, self._curve)
            s.connect(self.ingest_endpoint)
            self._ingest = s
        return self._ingest

    def next_seq(self, stream):
        """The sequence number the next push to ``stream`` will carry (1 for the first)."""
        return self._seq.get(stream, 1)

    def _send(self, stream, header_fields, payload):
        """Encodes the header with the stream's next seq and sends header + payload (if any)."""
        self._check_open()
        seq = self.next_seq(stream)
        header = wire.encode_header(stream, seq=seq, **header_fields)
        sock = self._ingest_socket()
        try:
            if payload is not None and payload.size:
                # The first frame queued means ZeroMQ takes the rest without blocking, so a message
                # is never half sent. copy=True: the caller may reuse its array at once.
                sock.send(header, zmq.SNDMORE)
                sock.send(memoryview(payload).cast("B"), 0)
            else:
                sock.send(header, 0)
        except zmq.Again:
            raise Timeout(f"push to {stream}: the daemon did not take the message within "
                          f"{self._send_timeout:g} s") from None
        self._seq[stream] = seq + 1

    def _start_seq(self, stream, seq):
        wire.check_name("stream", stream)
        if seq is not None:
            if int(seq) < 1:
                raise ValueError("seq starts at 1")
            self._seq[stream] = int(seq)

    def _batch_size(self, batch, row_bytes):
        if batch is not None:
            if int(batch) < 1:
                raise ValueError("batch must be >= 1")
            return int(batch)
        return max(1, self.max_payload_bytes // max(1, row_bytes))

    def push_rows(self, stream, rows, *, batch=None, t=None, seq=None, end=False,
                  check_finite=True):
        """Pushes matrix rows (a 2-D array n x d, or one row as a 1-D array) to a ``rows`` stream.

        float32 goes as ``f32``, other real numbers as ``f64``. The rows are split into messages of
        at most ``batch`` rows (default: as many as fit in ``max_payload_bytes``); each message
        carries the stream's next sequence number (``seq``: start from this number instead). ``t``:
        producer time of the messages (default: the daemon's receive time). ``end``: mark the last
        message as the end of the stream. Raises ValueError for non-finite values (unless
        ``check_finite`` is False) and Timeout when a ``send_timeout`` expires. Returns the number
        of messages sent."""
        a = np.asarray(rows)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        a, dtype = _payload_array(a, "rows")
        if check_finite:
            _check_finite(a, "rows")
        self._start_seq(stream, seq)
        n, d = a.shape
        if n == 0:
            self._send(stream, dict(kind="rows", dtype=dtype, shape=(0, d), t=t, end=end), None)
            return 1
        step = self._batch_size(batch, d * a.itemsize)
        sent = 0
        for lo in range(0, n, step):
            chunk = a[lo:lo + step]
            last = lo + step >= n
            self._send(stream, dict(kind="rows", dtype=dtype, shape=chunk.shape, t=t,
                                    end=end and last), chunk)
            sent += 1
        return sent

    def push_series(self, stream, samples, t0=None, rate=None, *, events=None, scale=None,
                    batch=None, t=None, seq=None, end=False, check_finite=True):
        """Pushes multichannel samples (a 2-D array: samples x channels) to a ``series`` stream.

        ``t0``: time of the first sample (seconds since the epoch); ``rate``: samples per second.
        ``events``: markers, a list of dicts ``{"t", "label", "value"?, "duration"?}``; when the
        samples are split into messages of ``batch`` samples, each event goes with the message whose
        time span holds it (the first or last message for events outside the samples). A 0 x C
        array sends the events alone (t0 and rate are then optional). int16 samples need ``scale``
        (physical value = int16 x scale) and travel as ``i16``. Other arguments as in
        :meth:`push_rows`. Returns the number of messages sent."""
        a, dtype = _payload_array(samples, "samples", allow_i16=True)
        if dtype == "i16" and scale is None:
            raise ValueError("int16 samples need a scale (physical value = int16 x scale)")
        if scale is not None and dtype != "i16":
            raise ValueError("scale is for int16 samples")
        if check_finite:
            _check_finite(a, "samples")
        wire_events = [wire.encode_event(e) for e in (events or [])]
        self._start_seq(stream, seq)
        n, channels = a.shape
        if n == 0:
            self._send(stream, dict(kind="series", dtype=dtype, shape=(0, channels), t=t, t0=t0,
                                    rate=rate, scale=scale, events=wire_events, end=end), None)
            return 1
        if t0 is None or rate is None:
            raise ValueError("samples need t0 and rate")
        t0, rate = float(t0), float(rate)
        if not (math.isfinite(t0) and math.isfinite(rate) and rate > 0):
            raise ValueError("t0 must be finite and rate > 0")
        step = self._batch_size(batch, channels * a.itemsize)
        n_msgs = (n + step - 1) // step
        per_msg = [[] for _ in range(n_msgs)]
        for e in wire_events:
            pos = min(max(math.floor((e["t"] - t0) * rate), 0), n - 1)
            per_msg[pos // step].append(e)
        for i in range(n_msgs):
            lo = i * step
            chunk = a[lo:lo + step]
            self._send(stream, dict(kind="series", dtype=dtype, shape=chunk.shape, t=t,
                                    t0=t0 + lo / rate, rate=rate, scale=scale, events=per_msg[i],
                                    end=end and i == n_msgs - 1), chunk)
        return n_msgs

    def push_block(self, stream, block, id, *, t=None, seq=None, end=False, check_finite=True):
        """Pushes one matrix block (2-D, m x n; every block of a stream has the stream's m rows) with
        its ``id`` (str or int, echoed in results) to a ``blocks`` stream. ``end``: this is the
        stream's last block."""
        a, dtype = _payload_array(block, "block")
        if check_finite:
            _check_finite(a, "block")
        self._start_seq(stream, seq)
        self._send(stream, dict(kind="blocks", dtype=dtype, shape=a.shape, t=t, block_id=id,
                                end=end), a)
        return 1

    def push_end(self, stream, kind, dim):
        """Ends a ``rows`` or ``series`` stream of dimension ``dim`` with an empty message: pipelines
        that work on whole streams finish. (A ``blocks`` stream is ended with ``end=True`` on its
        last block.)"""
        if kind not in ("rows", "series"):
            raise ValueError("push_end is for rows and series; end a blocks stream with "
                             "push_block(..., end=True)")
        self._start_seq(stream, None)
        self._send(stream, dict(kind=kind, dtype="f64", shape=(0, int(dim)), end=True), None)
