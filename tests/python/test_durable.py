"""Durable state through the clients, against a real spectrad: create's durability and dedupe,
the save and position ops, a snapshot that survives SIGKILL, and the `spectra`
CLI's save --wait, position and push --resume. Run with tests/python/run.sh BUILD_DIR."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import spectra
from test_client import SLOW, Daemon, spectrad_bin, wait_for


def cli_bin():
    return os.path.join(os.path.dirname(spectrad_bin()), "spectra")


def rows(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


class DurableTest(unittest.TestCase):
    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="spectra-durable-")
        self.daemon = Daemon("--state-dir", self.state)
        self.c = self.daemon.client()

    def tearDown(self):
        self.c.close()
        status = self.daemon.stop()
        shutil.rmtree(self.state, ignore_errors=True)
        if status not in (0, None) and status != -9:
            raise AssertionError(f"spectrad exited with {status}:\n{self.daemon.log()[-4000:]}")

    def stream_stats(self, name):
        return self.c.stats()["streams"][name]


class TestDurableOps(DurableTest):
    def test_position_of_a_journal_stream_follows_every_accepted_message(self):
        self.c.create("j", "rows", 3, durability="journal", dedupe=True)
        p = self.c.position("j")
        self.assertEqual(set(p), {"stream", "durability", "messages", "last_seq",
                                  "applied_messages", "durable_messages", "durable_seq",
                                  "snapshot_messages", "snapshot_seq"})
        self.assertEqual((p["stream"], p["durability"], p["messages"], p["last_seq"],
                          p["durable_messages"], p["durable_seq"], p["snapshot_seq"]),
                         ("j", "journal", 0, None, 0, None, None))
        self.assertEqual(self.c.push_rows("j", rows(6, 3, 1), batch=2), 3)
        self.c.wait_accepted("j", 10 * SLOW)
        p = self.c.position("j")
        self.assertEqual((p["messages"], p["last_seq"], p["durable_messages"], p["durable_seq"]),
                         (3, 3, 3, 3))
        s = self.stream_stats("j")
        self.assertEqual(s["durable"]["durability"], "journal")
        self.assertGreater(s["durable"]["journal_bytes"], 0)

    def test_dedupe_drops_a_resend_and_counts_it(self):
        self.c.create("dd", "rows", 2, dedupe=True)
        a = rows(4, 2, 2)
        self.c.push_rows("dd", a, batch=2)
        self.c.wait_accepted("dd", 10 * SLOW)
        with self.daemon.client() as again:             # a restarted producer: seq from 1 again
            again.push_rows("dd", a, batch=2)
        s = wait_for(lambda: (s := self.stream_stats("dd"))["duplicates"] >= 2 and s,
                     what="2 duplicates")
        self.assertEqual((s["messages"], s["duplicates"], s["last_seq"], s["rejected"]),
                         (2, 2, 2, 0))
        self.assertGreaterEqual(self.c.stats()["ingest"]["duplicates"], 2)
        # Continuing the numbering (what `spectra push` does) is not a duplicate.
        with self.daemon.client() as more:
            more.push_rows("dd", a, batch=2, seq=self.c.position("dd")["last_seq"] + 1)
        wait_for(lambda: self.stream_stats("dd")["messages"] == 4, what="4 messages")

    def test_save_then_position_shows_the_snapshot_on_disk(self):
        self.c.create("snap", "rows", 4, durability="snapshot")
        self.c.push_rows("snap", rows(50, 4, 3), batch=10)
        self.c.wait_accepted("snap", 10 * SLOW)
        r = self.c.save("snap")
        self.assertEqual(r, {"snapshots": 1, "messages": 5})
        p = wait_for(lambda: (p := self.c.position("snap"))["snapshot_messages"] is not None and
                     p["snapshot_messages"] >= 5 and p, what="snapshot on disk")
        self.assertEqual((p["snapshot_messages"], p["snapshot_seq"], p["durable_messages"],
                          p["durable_seq"]), (5, 5, 5, 5))
        self.assertGreaterEqual(self.stream_stats("snap")["durable"]["snapshots"], 1)
        everything = self.c.save()
        self.assertEqual(set(everything), {"snapshots"})
        self.assertEqual(everything["snapshots"], 1)

    def test_errors(self):
        self.c.create("plain", "rows", 2, durability="none")
        with self.assertRaises(spectra.DaemonError) as e:
            self.c.save("plain")
        self.assertEqual(e.exception.code, "bad_request")
        self.assertEqual(self.c.position("plain")["durability"], "none")
        with self.assertRaises(spectra.DaemonError) as e:
            self.c.position("nope")
        self.assertEqual(e.exception.code, "unknown_stream")
        with self.assertRaises(ValueError):
            self.c.create("bad", "rows", 2, durability="forever")
        with self.assertRaises(spectra.DaemonError) as e:
            self.c.request("create", {"stream": "bad", "kind": "rows", "dim": 2,
                                      "durability": "forever"})
        self.assertEqual(e.exception.code, "bad_request")
        with self.assertRaises(spectra.DaemonError) as e:
            self.c.request("create", {"stream": "bad", "kind": "rows", "dim": 2, "dedupe": 1})
        self.assertEqual(e.exception.code, "bad_request")

    def test_a_saved_snapshot_survives_sigkill(self):
        self.c.create("k", "rows", 3, durability="snapshot", dedupe=True)
        a = rows(40, 3, 4)
        self.c.push_rows("k", a, batch=8)
        self.c.wait_accepted("k", 10 * SLOW)
        self.c.save("k")
        wait_for(lambda: (self.c.position("k")["snapshot_messages"] or 0) >= 5, what="snapshot")
        self.c.close()
        self.daemon.proc.kill()
        self.daemon.proc.wait()
        self.daemon.stop()
        self.daemon = Daemon("--state-dir", self.state)
        self.c = self.daemon.client()
        p = self.c.position("k")
        self.assertEqual((p["durability"], p["messages"], p["last_seq"], p["durable_seq"],
                          p["snapshot_messages"]), ("snapshot", 5, 5, 5, 5))
        self.assertEqual(self.stream_stats("k")["count"], 40)
        # The restored stream still drops a resend (its last_seq and dedupe came back too).
        self.c.push_rows("k", a[:8], seq=5)
        wait_for(lambda: self.stream_stats("k")["duplicates"] == 1, what="a duplicate")
        self.assertEqual(self.stream_stats("k")["messages"], 5)


class TestCli(DurableTest):
    def cli(self, *args):
        env = dict(os.environ, SPECTRA_CONTROL=self.daemon.control,
                   SPECTRA_INGEST=self.daemon.ingest, SPECTRA_PUBLISH=self.daemon.publish)
        return subprocess.run([cli_bin(), *args], env=env, capture_output=True, text=True,
                              timeout=60 * SLOW)

    def setUp(self):
        if not os.access(cli_bin(), os.X_OK):
            self.skipTest(f"{cli_bin()} is not built")
        super().setUp()

    def test_create_save_wait_position_and_push_resume(self):
        r = self.cli("create", "r", "--kind", "rows", "--dim", "2", "--durability", "snapshot",
                     "--dedupe")
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(self.state, "rows.txt")
        with open(path, "w") as f:
            f.writelines(f"{i} {-i}\n" for i in range(10))
        r = self.cli("push", "r", path, "--batch", "2", "--wait")   # messages seq 1..5
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("--timeout", str(20 * SLOW), "save", "r", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"snapshots": 1, "messages": 5})
        r = self.cli("position", "r")
        self.assertEqual(r.returncode, 0, r.stderr)
        p = json.loads(r.stdout)
        self.assertEqual((p["snapshot_messages"], p["durable_seq"], p["last_seq"]), (5, 5, 5))

        # Everything is durable: a resumed push skips the whole file.
        r = self.cli("push", "r", path, "--batch", "2", "--resume", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("resumed after seq 5: skipped 5 messages (10 rows)", r.stderr)
        # Without --resume the push continues the numbering: not dropped as duplicates.
        r = self.cli("push", "r", path, "--batch", "4", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        s = self.stream_stats("r")
        self.assertEqual((s["messages"], s["count"], s["last_seq"], s["duplicates"]),
                         (8, 20, 8, 0))
        # A resume from durable_seq 5 with last_seq 8 resends 6..8 (dropped by dedupe) and more.
        r = self.cli("push", "r", path, "--batch", "1", "--resume", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("has accepted up to seq 8 but holds only up to 5 durably", r.stderr)
        self.assertIn("skipped 5 messages (5 rows)", r.stderr)
        s = self.stream_stats("r")
        self.assertEqual((s["messages"], s["last_seq"], s["duplicates"]), (10, 10, 3))

    def test_save_everything_and_errors(self):
        self.c.create("a", "rows", 2, durability="journal")
        self.c.create("n", "rows", 2, durability="none")
        self.c.push_rows("a", rows(4, 2, 5), batch=2)
        self.c.wait_accepted("a", 10 * SLOW)
        r = self.cli("--timeout", str(20 * SLOW), "save", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"snapshots": 1})
        self.assertEqual(self.c.position("a")["snapshot_messages"], 2)
        r = self.cli("save", "n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad_request", r.stderr)
        r = self.cli("position", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown_stream", r.stderr)


if __name__ == "__main__":
    unittest.main()
