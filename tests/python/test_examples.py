"""The examples of clients/python/examples run end to end against a real spectrad: a PNG comes out,
or (pipeline missing) the documented exit status 3 with a message."""

import os
import subprocess
import tempfile
import unittest

from test_client import ROOT, SLOW, Daemon

EXAMPLES = os.path.join(ROOT, "clients", "python", "examples")
DATA = os.path.join(ROOT, "..", "shared", "data")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def have_module(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False


# The examples replay whole recordings through the estimators; under valgrind the daemon is ~50x
# slower, so tests/run-all.sh's valgrind pass leaves them to the optimised and ASan passes.
@unittest.skipIf(os.environ.get("SPX_VALGRIND"), "examples run in the optimised and ASan passes")
class TestExamples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon()
        with cls.daemon.client() as c:
            cls.algos = {a["algo"] for a in c.algos()}

    @classmethod
    def tearDownClass(cls):
        status = cls.daemon.stop()
        if status != 0:
            raise AssertionError(f"spectrad exited with status {status}:\n"
                                 f"{cls.daemon.log()[-4000:]}")

    def need(self, path, *modules):
        if not os.path.exists(path):
            if os.environ.get("CI") == "true":
                self.fail(f"{path} is missing under CI=true")
            self.skipTest("skipped: no ../shared/data")
        for m in modules:
            if not have_module(m):
                self.skipTest(f"needs the Python module {m} (Debian: python3-{m})")

    def run_example(self, script, *args):
        d = self.daemon
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.png")
            proc = subprocess.run(
                ["/usr/bin/python3", os.path.join(EXAMPLES, script), "--control", d.control,
                 "--ingest", d.ingest, "--publish", d.publish, "--timeout", str(30 * SLOW),
                 "--out", out, *args],
                capture_output=True, text=True, timeout=300 * SLOW,
                env=dict(os.environ, MPLBACKEND="Agg"))
            png = open(out, "rb").read(8) if os.path.exists(out) else b""
        return proc, png

    def check(self, algo, proc, png):
        if algo not in self.algos:
            self.assertEqual(proc.returncode, 3, proc.stderr)
            self.assertIn(f"no '{algo}' pipeline", proc.stderr)
            return
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(png, PNG_MAGIC)

    def test_live_forecast(self):
        self.need(os.path.join(DATA, "forecast", "ETTh1.csv"), "matplotlib")
        proc, png = self.run_example("live_forecast.py", "--samples", "1400", "--speed", "0")
        self.check("forecast", proc, png)
        if proc.returncode == 0:
            self.assertIn("forecasts received (0 lost", proc.stdout)

    def test_live_eeg_probabilities(self):
        self.need(os.path.join(DATA, "eeg", "eegmmidb", "S001", "S001R04.edf"), "matplotlib",
                  "biosig")
        proc, png = self.run_example("live_eeg_probabilities.py", "--speed", "0")
        self.check("eegclass", proc, png)


if __name__ == "__main__":
    unittest.main()
