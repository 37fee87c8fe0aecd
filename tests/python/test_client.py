"""Tests of the Python client (clients/python/spectra).

Wire tests run on bytes alone; hostile-peer tests run against a fake ROUTER / PUB in a thread; the
rest run against a real spectrad (env SPECTRAD_BIN, default build/bin/spectrad) started on free
loopback ports. Run with tests/python/run.sh BUILD_DIR."""

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import msgpack
import numpy as np
import zmq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import spectra  # noqa: E402
from spectra import wire  # noqa: E402


# Under valgrind (SPX_VALGRIND=1, set by tests/run-all.sh) the daemon is ~20x slower.
SLOW = 20 if os.environ.get("SPX_VALGRIND") == "1" else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spectrad_bin():
    path = os.environ.get("SPECTRAD_BIN") or os.path.join("build", "bin", "spectrad")
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


class Daemon:
    """A real spectrad on free loopback ports, its log in a temporary directory."""

    def __init__(self, *extra, keys=None):
        """``keys``: {"server_key": FILE, "key": FILE} for the readiness probe of a daemon with
        CURVE (an operator's key)."""
        binary = spectrad_bin()
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"spectrad not found at {binary} (build it, or set SPECTRAD_BIN)")
        self.dir = tempfile.mkdtemp(prefix="spectra-py-")
        self.log_path = os.path.join(self.dir, "spectrad.log")
        # Another process may take a port between free_port() and the daemon's bind: retry then.
        for _attempt in range(3):
            self.ingest, self.publish, self.control = (
                f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
            # tests/run-all.sh runs the integration tests with the daemon under valgrind.
            wrapper = os.environ.get("SPX_DAEMON_WRAPPER", "").split()
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen(
                    [*wrapper, binary, "--ingest", self.ingest, "--publish", self.publish,
                     "--control", self.control, "--state-dir", self.dir, *extra],
                    stdout=log, stderr=subprocess.STDOUT)
            probe = spectra.Client(self.control, linger=0, **(keys or {}))
            try:
                probe.wait_ready(timeout=30 * SLOW)
                return
            except spectra.Timeout:
                pass
            finally:
                probe.close()
            if self.proc.poll() is None:
                break
        self.stop()
        raise RuntimeError(f"spectrad did not start:\n{self.log()}")

    def client(self, **kw):
        kw.setdefault("linger", 2.0)
        kw.setdefault("timeout", 5.0 * SLOW)
        return spectra.Client(self.control, self.ingest, self.publish, **kw)

    def log(self):
        if not os.path.exists(self.log_path):
            return getattr(self, "final_log", "")
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """Stops the daemon and returns its exit status (a wrapper's, e.g. valgrind's 99 for
        errors, included)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.final_log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


def wait_for(fn, timeout=5.0, what="condition"):
    """Polls fn() until it returns a true value (ingest is asynchronous to control requests)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# ---- wire format, no sockets ------------------------------------------------------------------

class TestWire(unittest.TestCase):
    def test_header_matches_the_protocol_worked_example(self):
        hdr = wire.encode_header("s", kind="rows", dtype="f64", shape=(2, 3), seq=1)
        expected = bytes.fromhex(
            "86" "a17601" "a673747265616da173" "a46b696e64a4726f7773" "a56474797065a3663634"
            "a5736861706592" "0203" "a373657101")
        self.assertEqual(len(hdr), 47)
        self.assertEqual(hdr, expected)

    def test_header_keys_of_a_series_with_events(self):
        ev = [wire.encode_event({"t": 10, "label": "T1", "value": 2, "duration": 4.1}),
              wire.encode_event({"t": 11.5, "label": "T0", "duration": 0})]
        h = msgpack.unpackb(wire.encode_header("e", kind="series", dtype="i16", shape=(160, 64),
                                               seq=7, t0=10.0, rate=160, scale=0.5, events=ev,
                                               end=True))
        self.assertEqual(list(h), ["v", "stream", "kind", "dtype", "shape", "seq", "t0", "rate",
                                   "scale", "events", "end"])
        self.assertEqual(h["events"], [{"t": 10.0, "label": "T1", "value": 2.0, "duration": 4.1},
                                       {"t": 11.5, "label": "T0"}])
        self.assertIsInstance(h["t0"], float)
        self.assertIs(h["end"], True)

    def test_header_refuses_what_the_daemon_would_refuse(self):
        bad = [dict(stream="a.b", kind="rows", dtype="f64", shape=(1, 2)),
               dict(stream="x" * 65, kind="rows", dtype="f64", shape=(1, 2)),
               dict(stream="s", kind="matrix", dtype="f64", shape=(1, 2)),
               dict(stream="s", kind="rows", dtype="i16", shape=(1, 2), scale=1.0),
               dict(stream="s", kind="rows", dtype="f64", shape=(1, 0)),
               dict(stream="s", kind="series", dtype="f64", shape=(4, 2), t0=1.0),
               dict(stream="s", kind="series", dtype="f64", shape=(4, 2), t0=1.0, rate=0),
               dict(stream="s", kind="series", dtype="i16", shape=(4, 2), t0=1.0, rate=2.0),
               dict(stream="s", kind="blocks", dtype="f64", shape=(4, 2)),
               dict(stream="s", kind="blocks", dtype="f64", shape=(4, 2), block_id=True),
               dict(stream="s", kind="rows", dtype="f64", shape=(1, 2), t=math.inf),
               dict(stream="s", kind="rows", dtype="f64", shape=(1, 2),
                    events=[{"t": 1.0, "label": "x"}])]
        for kw in bad:
            with self.subTest(kw=kw), self.assertRaises(ValueError):
                wire.encode_header(**kw)
        many = [{"t": float(i), "label": "x" * 40} for i in range(2000)]
        with self.assertRaisesRegex(ValueError, "exceeds"):
            wire.encode_header("s", kind="series", dtype="f64", shape=(0, 2), events=many)

    def test_events_are_checked(self):
        for e in [{"t": 1.0}, {"label": "x"}, {"t": math.nan, "label": "x"},
                  {"t": 1.0, "label": "x", "duration": -1}, {"t": 1.0, "label": "x", "foo": 1},
                  {"t": "1", "label": "x"}, ("t", 1)]:
            with self.subTest(e=e), self.assertRaises((ValueError, TypeError)):
                wire.encode_event(e)

    def test_names(self):
        self.assertTrue(spectra.name_valid("a-B_9"))
        self.assertTrue(spectra.name_valid("x" * 64))
        for n in ["", "x" * 65, "a.b", "a b", "é", None, 3]:
            self.assertFalse(spectra.name_valid(n), n)

    def test_ndarray_round_trip_and_zero_copy_decode(self):
        for a in [np.arange(12, dtype=np.float64).reshape(3, 4),
                  np.linspace(0, 1, 5, dtype=np.float32),
                  np.arange(-3, 3, dtype=np.int64).reshape(2, 3, 1),
                  np.float64(2.5) * np.ones(()),
                  np.zeros((0, 4))]:
            with self.subTest(dtype=a.dtype, shape=a.shape):
                body = msgpack.packb({"x": spectra.encode_ndarray(a)}, use_bin_type=True)
                out = wire.unpack(body)["x"]
                self.assertIsInstance(out, np.ndarray)
                self.assertEqual(out.dtype, a.dtype)
                self.assertEqual(out.shape, a.shape)
                np.testing.assert_array_equal(out, a)
                self.assertFalse(out.flags.writeable)   # a view of the received bytes
                owner = out
                while isinstance(owner, np.ndarray):
                    owner = owner.base
                self.assertIsInstance(owner, bytes)

    def test_big_endian_and_fortran_input_is_sent_little_endian_row_major(self):
        a = np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3))
        m = spectra.encode_ndarray(a)
        self.assertEqual(m["data"], np.arange(6, dtype="<f8").tobytes())
        self.assertEqual(m["shape"], [2, 3])

    def test_unknown_ndarray_dtype_stays_a_map(self):
        m = {"dtype": "c128", "shape": [1], "data": b"\0" * 16, "extra": 1}
        self.assertEqual(wire.unpack(msgpack.packb(m, use_bin_type=True)), m)

    def test_plain_converts_numpy_values_for_requests(self):
        out = wire.plain({"a": np.float32(1.5), "b": np.int64(3), "c": (1, 2),
                          "d": np.eye(2, dtype=np.float32)})
        self.assertEqual(out["a"], 1.5)
        self.assertIs(type(out["b"]), int)
        self.assertEqual(out["c"], [1, 2])
        self.assertEqual(out["d"]["dtype"], "f32")
        with self.assertRaises(TypeError):
            wire.plain({"x": object()})
        with self.assertRaises(TypeError):
            wire.plain({1: 2})


HOSTILE_BODIES = {
    "reserved byte": b"\xc1",
    "truncated map": b"\x82\xa2ok\xc3\xa2id",
    "array count beyond the bytes": b"\xdd\xff\xff\xff\xff",
    "map count beyond the bytes": b"\xdf\xff\xff\xff\xff\xa2ok",
    "str length beyond the bytes": b"\xdb\x7f\xff\xff\xff",
    "bin length beyond the bytes": b"\xc6\x7f\xff\xff\xff" + b"x" * 10,
    "ext type": b"\x81\xa2ok\xd4\x01\x00",
    "timestamp ext": b"\x81\xa2ok\xd6\xff\x00\x00\x00\x01",
    "two objects": b"\x81\xa2ok\xc3\xc0",
    "invalid utf-8": b"\x81\xa2ok\xa2\xff\xfe",
    "int map key": b"\x81\x01\xc3",
    "deep nesting": b"\x91" * 100 + b"\xc0",
    "ndarray length": msgpack.packb({"ok": True, "x": {"dtype": "f64", "shape": [3],
                                                       "data": b"\0" * 16}}),
    "ndarray shape": msgpack.packb({"ok": True, "x": {"dtype": "f32", "shape": [-1],
                                                      "data": b""}}),
    "empty": b"",
}


class TestUnpackHostile(unittest.TestCase):
    def test_every_hostile_body_is_a_protocol_error(self):
        for name, body in HOSTILE_BODIES.items():
            with self.subTest(name), self.assertRaises(spectra.ProtocolError):
                wire.unpack(body)


# ---- hostile peers: a fake control ROUTER and a fake results PUB --------------------------------

class FakeRouter:
    """A ROUTER in a thread that answers each request with handler(request_map) -> a list of
    replies: bytes (sent after the envelope) or a list of frames (sent after the identity alone)."""

    def __init__(self, handler):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.handler = handler
        self.requests = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            if not self.sock.poll(20):
                continue
            frames = self.sock.recv_multipart()
            ident, envelope, body = frames[0], frames[1:-1], frames[-1]
            req = msgpack.unpackb(body)
            self.requests.append(req)
            for reply in self.handler(req):
                if isinstance(reply, bytes):
                    self.sock.send_multipart([ident, *envelope, reply])
                else:
                    self.sock.send_multipart([ident, *reply])

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()
        self.ctx.term()


def ok_reply(req, **keys):
    return msgpack.packb({"ok": True, "id": req["id"], **keys}, use_bin_type=True)


class TestHostileDaemon(unittest.TestCase):
    def test_malformed_replies_raise_protocol_error_and_the_next_request_works(self):
        script = list(HOSTILE_BODIES.items()) + [
            ("not a map", msgpack.packb([1, 2])),
            ("no ok", msgpack.packb({"version": "x"})),
            ("ok not bool", msgpack.packb({"ok": 1})),
            ("failed without error", msgpack.packb({"ok": False})),
            ("error code not str", msgpack.packb({"ok": False, "error": {"code": 3}})),
        ]
        state = {"mode": None}

        def handler(req):
            if state["mode"] == "hostile":
                return [state["body"]]
            if state["mode"] == "no delimiter":
                return [[ok_reply(req)]]
            return [ok_reply(req, version="fake", protocol=1, uptime_s=1.0)]

        fake = FakeRouter(handler)
        c = spectra.Client(fake.endpoint, timeout=2.0, linger=0)
        try:
            for name, body in script + [("no delimiter", None)]:
                with self.subTest(name):
                    state.update(mode="no delimiter" if body is None else "hostile", body=body)
                    t = time.monotonic()
                    with self.assertRaises(spectra.ProtocolError):
                        c.ping()
                    self.assertLess(time.monotonic() - t, 1.5)   # not a timeout in disguise
                    state["mode"] = None
                    self.assertEqual(c.ping()["version"], "fake")
        finally:
            c.close()
            fake.close()

    def test_replies_are_matched_by_id(self):
        # A stale reply (an earlier id) and a reply with a foreign id come first: both skipped.
        def handler(req):
            return [ok_reply({"id": req["id"] - 1}, which="stale"),
                    msgpack.packb({"ok": True, "id": "other", "which": "foreign"}),
                    ok_reply(req, which="mine")]

        fake = FakeRouter(handler)
        c = spectra.Client(fake.endpoint, timeout=2.0, linger=0)
        try:
            self.assertEqual(c.request("x")["which"], "mine")
            self.assertEqual(c.request("x")["which"], "mine")
            ids = [r["id"] for r in fake.requests]
            self.assertEqual(ids, [1, 2])
        finally:
            c.close()
            fake.close()

    def test_a_timeout_does_not_wedge_the_socket(self):
        answered = []

        def handler(req):
            if req["op"] == "slow":
                return []          # never answered
            answered.append(req["id"])
            return [ok_reply(req, op=req["op"])]

        fake = FakeRouter(handler)
        c = spectra.Client(fake.endpoint, timeout=0.3, linger=0)
        try:
            t = time.monotonic()
            with self.assertRaises(spectra.Timeout):
                c.request("slow")
            self.assertGreaterEqual(time.monotonic() - t, 0.25)
            self.assertIsInstance(spectra.Timeout("x"), TimeoutError)
            reply = c.request("fast")
            self.assertEqual((reply["op"], reply["id"]), ("fast", 2))
            self.assertEqual(answered, [2])
        finally:
            c.close()
            fake.close()

    def test_daemon_error_carries_code_and_message(self):
        def handler(req):
            return [msgpack.packb({"ok": False, "id": req["id"],
                                   "error": {"code": "bad_param", "message": "k=2: too big"}})]

        fake = FakeRouter(handler)
        c = spectra.Client(fake.endpoint, timeout=2.0, linger=0)
        try:
            with self.assertRaises(spectra.DaemonError) as cm:
                c.attach("s", "p", "topeig", k=2)
            self.assertEqual(cm.exception.code, "bad_param")
            self.assertEqual(cm.exception.message, "k=2: too big")
            self.assertEqual(str(cm.exception), "attach: bad_param: k=2: too big")
            req = fake.requests[-1]
            self.assertEqual(req["params"], {"k": 2})
            self.assertNotIn("every", req)
        finally:
            c.close()
            fake.close()


class TestHostilePublisher(unittest.TestCase):
    def setUp(self):
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind("tcp://127.0.0.1:*")
        self.sub = spectra.Subscriber("s.", publish=self.pub.getsockopt_string(zmq.LAST_ENDPOINT),
                                      timeout=0.05)
        # Slow joiner: publish a probe until the subscription has arrived.
        for _ in range(200):
            self.pub.send_multipart([b"s.p", self.body(seq=1)])
            try:
                self.sub.recv()
                break
            except spectra.Timeout:
                pass
        else:
            self.fail("the subscription never arrived")
        while True:
            try:
                self.sub.recv()
            except spectra.Timeout:
                break
        self.sub.lost = 0

    def tearDown(self):
        self.sub.close()
        self.pub.close()
        self.ctx.term()

    @staticmethod
    def body(seq, **over):
        b = {"v": 1, "stream": "s", "pipeline": "p", "algo": "x", "seq": seq, "input_seq": seq,
             "count": seq, "t_in": 1.0, "t_pub": 2.0,
             "result": {"vec": spectra.encode_ndarray(np.array([1.0, 2.0]))}}
        b.update(over)
        return msgpack.packb(b, use_bin_type=True)

    def test_bad_results_raise_and_good_ones_follow(self):
        bad = [[b"s.p", b"\xc1"], [b"s.p", HOSTILE_BODIES["deep nesting"]], [b"s.p"],
               [b"s.p", self.body(2), b"extra"], [b"s.p", msgpack.packb([1])],
               [b"s.p", self.body(2, v=2)], [b"s.p", self.body(2, pipeline="q")],
               [b"s.p", HOSTILE_BODIES["ndarray length"]]]
        for frames in bad:
            self.pub.send_multipart(frames)
            self.pub.send_multipart([b"s.p", self.body(5)])
            with self.subTest(frames=frames[:2]):
                with self.assertRaises(spectra.ProtocolError):
                    self.sub.recv(timeout=2.0)
                good = self.sub.recv(timeout=2.0)
                self.assertEqual(good["seq"], 5)
                np.testing.assert_array_equal(good["result"]["vec"], [1.0, 2.0])

    def test_seq_gaps_are_counted_and_iteration_ends_on_timeout(self):
        for seq in [3, 4, 7, 8]:     # after the probes' seq 1: 1 (2) + 2 (5, 6) lost
            self.pub.send_multipart([b"s.p", self.body(seq)])
        got = [b["seq"] for b in self.sub]
        self.assertEqual(got, [3, 4, 7, 8])
        self.assertEqual(self.sub.lost, 3)


# ---- a real daemon ------------------------------------------------------------------------------

class DaemonTest(unittest.TestCase):
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            status = cls.daemon.stop()
            # SIGTERM is a clean stop: anything else (a crash, valgrind's 99) fails the class.
            if status != 0:
                raise AssertionError(f"spectrad exited with status {status}:\n"
                                     f"{cls.daemon.log()[-4000:]}")

    def setUp(self):
        self.c = self.daemon.client()

    def tearDown(self):
        self.c.close()

    def stream_stats(self, name):
        return self.c.stats()["streams"].get(name)

    def wait_messages(self, name, messages):
        return wait_for(lambda: (s := self.stream_stats(name)) and
                        s["messages"] + s["rejected"] >= messages and s,
                        what=f"{messages} messages on {name}")


class TestControl(DaemonTest):
    def test_ping(self):
        p = self.c.ping()
        self.assertEqual(p["protocol"], 1)
        self.assertIsInstance(p["version"], str)
        self.assertGreaterEqual(p["uptime_s"], 0)
        self.assertNotIn("ok", p)

    def test_create_list_drop(self):
        self.c.create("c-rows", "rows", 5)
        self.c.create("c-series", "series", 3, rate=250.0, channel_names=["Cz", "C3", "C4"])
        self.c.create("c-blocks", "blocks", 16)
        got = {s["stream"]: s for s in self.c.list()}
        self.assertEqual((got["c-rows"]["kind"], got["c-rows"]["dim"]), ("rows", 5))
        self.assertEqual((got["c-series"]["kind"], got["c-series"]["dim"]), ("series", 3))
        self.assertEqual(got["c-series"]["rate"], 250.0)
        self.assertEqual((got["c-blocks"]["kind"], got["c-blocks"]["dim"]), ("blocks", 16))
        self.assertEqual(got["c-rows"]["pipelines"], [])
        with self.assertRaises(spectra.DaemonError) as cm:
            self.c.create("c-rows", "rows", 5)
        self.assertEqual(cm.exception.code, "exists")
        for name in ["c-rows", "c-series", "c-blocks"]:
            self.c.drop(name)
        names = {s["stream"] for s in self.c.list()}
        self.assertFalse(names & {"c-rows", "c-series", "c-blocks"})

    def test_error_codes(self):
        self.c.create("err", "rows", 4)
        self.c.create("err-series", "series", 2, rate=10)
        self.c.attach("err", "top", "topeig")
        cases = [
            ("unknown_stream", lambda: self.c.drop("nosuch")),
            ("unknown_stream", lambda: self.c.attach("nosuch", "p", "topeig")),
            ("unknown_stream", lambda: self.c.get("nosuch", "p")),
            ("unknown_pipeline", lambda: self.c.detach("err", "nosuch")),
            ("unknown_pipeline", lambda: self.c.get("err", "nosuch")),
            ("unknown_pipeline", lambda: self.c.call("err", "nosuch", "fit")),
            ("exists", lambda: self.c.attach("err", "top", "topeig")),
            ("unknown_algo", lambda: self.c.attach("err", "p", "nosuch")),
            ("bad_param", lambda: self.c.attach("err", "p", "topeig", nosuch=1)),
            ("bad_param", lambda: self.c.attach("err", "p", "topeig", method="nosuch")),
            ("kind_mismatch", lambda: self.c.attach("err-series", "p", "topeig")),
            ("bad_name", lambda: self.c.create("a.b", "rows", 2)),
            ("bad_request", lambda: self.c.create("bad-kind", "matrix", 2)),
            ("bad_request", lambda: self.c.create("bad-dim", "rows", 0)),
            ("bad_request", lambda: self.c.request("create", {"stream": 3})),
            ("bad_request", lambda: self.c.attach("err", "p", "topeig", every=-1)),
            ("unknown_op", lambda: self.c.request("nosuch")),
            ("unknown_op", lambda: self.c.get("err", "top", detail="nosuch")),
            ("unknown_op", lambda: self.c.call("err", "top", "nosuch")),
        ]
        for code, fn in cases:
            with self.subTest(code=code), self.assertRaises(spectra.DaemonError) as cm:
                fn()
            self.assertEqual(cm.exception.code, code, str(cm.exception))
            self.assertTrue(cm.exception.message)
        self.assertEqual(self.c.ping()["protocol"], 1)   # still usable after errors
        self.c.drop("err")
        self.c.drop("err-series")

    def test_attach_detach_and_list_shows_the_pipeline(self):
        self.c.create("ad", "rows", 3)
        self.c.attach("ad", "p1", "topeig", every=10, interval_ms=0, method="oja", eta0=0.5,
                      decay=np.float64(1), seed=np.int64(3))
        (s,) = [s for s in self.c.list() if s["stream"] == "ad"]
        (p,) = s["pipelines"]
        self.assertEqual((p["pipeline"], p["algo"], p["every"], p["interval_ms"]),
                         ("p1", "topeig", 10, 0))
        self.assertEqual(p["params"]["method"], "oja")
        self.assertEqual(float(p["params"]["eta0"]), 0.5)
        self.assertEqual(p["params"]["seed"], "3")
        self.c.detach("ad", "p1")
        (s,) = [s for s in self.c.list() if s["stream"] == "ad"]
        self.assertEqual(s["pipelines"], [])
        with self.assertRaises(TypeError):
            self.c.attach("ad", "p2", "topeig", seed=[1])
        self.c.drop("ad")

    def test_algos(self):
        algos = {a["algo"]: a for a in self.c.algos()}
        self.assertIn("topeig", algos)
        self.assertEqual(algos["topeig"]["kinds"], ["rows"])
        self.assertIsInstance(algos["topeig"]["summary"], str)
        self.assertIsInstance(algos["topeig"]["commands"], str)

    def test_timeout_against_a_silent_endpoint(self):
        c = spectra.Client(f"tcp://127.0.0.1:{free_port()}", timeout=0.2, linger=0)
        try:
            t = time.monotonic()
            with self.assertRaises(spectra.Timeout):
                c.ping()
            self.assertLess(time.monotonic() - t, 2.0)
        finally:
            c.close()


def planted_rows(n, d, seed):
    """Rows whose covariance has a clear top eigenvector (eigen-gap ~ 9)."""
    rng = np.random.default_rng(seed)
    v1 = rng.standard_normal(d)
    v1 /= np.linalg.norm(v1)
    return rng.standard_normal((n, d)) + 3.0 * rng.standard_normal((n, 1)) * v1


class TestPushAndResults(DaemonTest):
    def test_rows_batched_f64_then_get_is_up_to_date(self):
        a = planted_rows(3000, 8, seed=1)
        self.c.create("rows64", "rows", 8)
        self.c.attach("rows64", "top", "topeig", interval_ms=0)
        self.assertIsNone(self.c.get("rows64", "top"))          # nothing applied yet
        self.assertEqual(self.c.push_rows("rows64", a, batch=256), 12)
        self.assertEqual(self.c.wait_accepted("rows64", 10 * SLOW)["last_seq"], 12)
        body = self.c.get("rows64", "top")   # applies everything accepted before it
        self.assertEqual(body["count"], 3000)
        self.assertEqual(body["input_seq"], 12)
        self.assertEqual((body["stream"], body["pipeline"], body["algo"], body["v"]),
                         ("rows64", "top", "topeig", 1))
        v = body["result"]["vector"]
        self.assertEqual((v.dtype, v.shape), (np.float64, (8,)))
        # Against LAPACK: the top eigenvector of A^T A.
        w, vecs = np.linalg.eigh(a.T @ a)
        self.assertGreater(abs(v @ vecs[:, -1]), 0.99)
        self.assertAlmostEqual(float(np.linalg.norm(v)), 1.0, places=6)
        self.assertEqual(body["result"]["rows_seen"], 3000)
        s = self.stream_stats("rows64")
        self.assertEqual((s["messages"], s["count"], s["last_seq"], s["seq_gaps"]),
                         (12, 3000, 12, 0))
        self.assertEqual(self.c.next_seq("rows64"), 13)
        self.c.drop("rows64")

    def test_rows_f32_auto_batch_single_row_and_end(self):
        a = planted_rows(500, 4, seed=2).astype(np.float32)
        self.c.create("rows32", "rows", 4)
        self.c.attach("rows32", "top", "topeig", every=0, interval_ms=0)
        c = self.daemon.client(max_payload_bytes=4 * 4 * 100)    # 100 rows per message
        try:
            self.assertEqual(c.push_rows("rows32", a), 5)
            self.assertEqual(c.push_rows("rows32", a[0]), 1)       # a 1-D array is one row
            with self.assertRaises(ValueError):
                c.push_rows("rows32", np.full((2, 4), np.nan))
            with self.assertRaises(ValueError):
                c.push_rows("bad.name", a)
            with self.assertRaises(TypeError):
                c.push_rows("rows32", np.ones((2, 4), dtype=complex))
            with self.subscribe_ready("rows32.") as sub:
                c.push_end("rows32", "rows", 4)
                body = sub.recv(timeout=5 * SLOW)                 # end of stream publishes
            self.assertEqual(body["count"], 501)
            s = self.wait_messages("rows32", 7)
            self.assertEqual((s["messages"], s["count"], s["bytes"]), (7, 501, 501 * 16))
        finally:
            c.close()
        self.c.drop("rows32")

    def subscribe_ready(self, topic):
        """A subscriber whose subscription has reached the daemon: a probe stream's results are
        published until one arrives."""
        sub = self.c.subscribe([topic, "probe-" + topic.rstrip(".")], timeout=0.1)
        probe = "probe-" + topic.rstrip(".")
        self.c.create(probe, "rows", 2)
        self.c.attach(probe, "p", "topeig", every=1, interval_ms=0)
        for _ in range(100 * SLOW):
            self.c.push_rows(probe, np.ones((1, 2)))
            try:
                if sub.recv()["stream"] == probe:
                    break
            except spectra.Timeout:
                pass
        else:
            self.fail("subscription never reached the daemon")
        sub.unsubscribe("probe-" + topic.rstrip("."))
        self.c.drop(probe)
        while True:
            try:
                sub.recv(timeout=0.05)
            except spectra.Timeout:
                break
        sub.lost = 0
        return sub

    def test_subscriber_receives_every_publish_in_order(self):
        a = planted_rows(1000, 6, seed=3)
        self.c.create("sub", "rows", 6)
        with self.subscribe_ready("sub.") as sub:
            self.c.attach("sub", "top", "topeig", every=100, interval_ms=0)
            self.c.push_rows("sub", a, batch=50)
            sub.timeout = 5.0 * SLOW
            bodies = [sub.recv() for _ in range(10)]
            sub.timeout = 0.2
            self.assertEqual(list(sub), [])                # no more: iteration ends on timeout
        self.assertEqual([b["seq"] for b in bodies], list(range(1, 11)))
        self.assertEqual([b["count"] for b in bodies], list(range(100, 1001, 100)))
        self.assertEqual([b["input_seq"] for b in bodies], list(range(2, 21, 2)))
        self.assertEqual(sub.lost, 0)
        for b in bodies:
            self.assertEqual((b["stream"], b["pipeline"]), ("sub", "top"))
            self.assertIsInstance(b["result"]["vector"], np.ndarray)
            self.assertLessEqual(b["t_in"], b["t_pub"])
        last = bodies[-1]["result"]["vector"]
        self.assertGreater(abs(last @ np.linalg.eigh(a.T @ a)[1][:, -1]), 0.99)
        self.c.drop("sub")

    def test_series_with_events_split_across_batches(self):
        rate, n, ch = 160.0, 1000, 3
        t0 = 1.7e9
        x = np.random.default_rng(4).standard_normal((n, ch))
        events = [{"t": t0 - 1.0, "label": "before"},            # goes with the first message
                  {"t": t0 + 300 / rate, "label": "T1", "duration": 4.1},
                  {"t": t0 + 999 / rate, "label": "T2", "value": 2},
                  {"t": t0 + 50.0, "label": "after"}]            # goes with the last message
        self.c.create("ser", "series", ch, rate=rate, channel_names=["a", "b", "c"])
        self.assertEqual(self.c.push_series("ser", x, t0, rate, events=events, batch=256), 4)
        # Events alone, then int16 samples with a scale, contiguous in time.
        self.assertEqual(self.c.push_series("ser", np.zeros((0, ch)),
                                            events=[{"t": t0 + 7.0, "label": "alone"}]), 1)
        q = np.arange(-80, 80, dtype=np.int16).reshape(-1, 1).repeat(ch, axis=1)
        self.assertEqual(self.c.push_series("ser", q, t0 + n / rate, rate, scale=0.1), 1)
        with self.assertRaises(ValueError):
            self.c.push_series("ser", q, t0, rate)                 # int16 needs a scale
        with self.assertRaises(ValueError):
            self.c.push_series("ser", x, t0)                       # no rate
        s = self.wait_messages("ser", 6)
        self.assertEqual((s["messages"], s["count"], s["events"], s["rejected"]),
                         (6, n + 160, 5, 0))
        self.assertEqual((s["time"]["gaps"], s["time"]["overlaps"]), (0, 0))
        self.c.drop("ser")

    def test_blocks_with_ids_and_end(self):
        m = 16
        blocks = [np.random.default_rng(i).standard_normal((m, 3 + i)) for i in range(4)]
        for i, b in enumerate(blocks):
            ident = f"b{i}" if i % 2 == 0 else i
            self.c.push_block("blk", b, ident, end=i == 3)
        with self.assertRaises(ValueError):
            self.c.push_end("blk", "blocks", m)
        s = self.wait_messages("blk", 4)
        self.assertEqual((s["kind"], s["dim"], s["messages"], s["count"], s["rejected"]),
                         ("blocks", m, 4, 4, 0))
        self.assertEqual(s["bytes"], sum(b.nbytes for b in blocks))
        self.c.drop("blk")

    def test_ingest_errors_are_counted(self):
        self.c.create("ing", "rows", 3)
        self.c.push_rows("ing", np.ones((2, 3)))
        bad = np.ones((2, 3))
        bad[1, 1] = np.inf
        self.c.push_rows("ing", bad, check_finite=False)          # not_finite
        self.c.push_rows("ing", np.ones((2, 5)))                   # shape_mismatch
        self.c.push_series("ing", np.ones((2, 3)), 0.0, 1.0)       # kind_mismatch
        self.c.push_rows("ing", np.ones((1, 3)), seq=10)           # seq jumps: a gap
        s = self.wait_messages("ing", 5)
        self.assertEqual((s["messages"], s["count"], s["rejected"]), (2, 3, 3))
        self.assertEqual(s["errors"], {"not_finite": 1, "shape_mismatch": 1, "kind_mismatch": 1})
        self.assertEqual((s["seq_gaps"], s["last_seq"]), (1, 10))
        self.assertGreaterEqual(self.c.stats()["ingest"]["errors"].get("not_finite", 0), 1)
        self.c.push_rows("ing", np.ones((1, 4)))                   # never accepted
        with self.assertRaisesRegex(spectra.Timeout, "shape_mismatch"):
            self.c.wait_accepted("ing", timeout=0.3)
        self.c.drop("ing")

    def test_send_timeout_does_not_advance_seq(self):
        # Nothing listens on this port: one message fits the high-water mark, then sends time out.
        c = spectra.Client(ingest=f"tcp://127.0.0.1:{free_port()}", send_timeout=0.1,
                           send_hwm=1, linger=0)
        try:
            sent, t = 0, time.monotonic()
            with self.assertRaises(spectra.Timeout):
                for _ in range(10):
                    c.push_rows("st", np.ones((1, 2)))
                    sent += 1
            self.assertLess(time.monotonic() - t, 5.0)
            self.assertEqual(c.next_seq("st"), sent + 1)
        finally:
            c.close()

    def test_get_detail_and_call_on_an_algorithm_with_commands(self):
        algos = {a["algo"]: a for a in self.c.algos()}
        if "isvd" not in algos:
            self.skipTest("this spectrad has no isvd pipeline (no algorithm with a detail)")
        m, rank = 24, 4
        rng = np.random.default_rng(5)
        basis = np.linalg.qr(rng.standard_normal((m, rank)))[0]
        blocks = [basis @ rng.standard_normal((rank, 6)) for _ in range(5)]
        self.c.create("sv", "blocks", m)
        self.c.attach("sv", "svd", "isvd", rank=rank, interval_ms=0)
        for i, b in enumerate(blocks):
            self.c.push_block("sv", b, i)
        self.c.wait_accepted("sv", 10 * SLOW)
        for value in [self.c.get("sv", "svd", detail="left_vectors"),
                      self.c.call("sv", "svd", "left_vectors")]:
            u, sv = value["u"], value["singular_values"]
            self.assertEqual(u.shape, (m, rank))
            np.testing.assert_allclose(u.T @ u, np.eye(rank), atol=1e-8)
            exact = np.linalg.svd(np.hstack(blocks), compute_uv=False)[:rank]
            np.testing.assert_allclose(sv, exact, rtol=1e-8)
        with self.assertRaises(spectra.DaemonError) as cm:
            self.c.get("sv", "svd", detail="left_vectors", k=1)
        self.assertEqual(cm.exception.code, "bad_param")
        self.c.drop("sv")


if __name__ == "__main__":
    unittest.main()
