"""The Python client against a spectrad with CURVE keys: keys from spectra.keygen(), allow-lists per
role; allowed keys push, subscribe and control; unknown keys and other roles are refused."""

import os
import shutil
import tempfile
import unittest

import numpy as np

import spectra
from spectra import keys
from test_client import SLOW, Daemon, wait_for


class TestCurve(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spectra-py-curve-")
        for name in ("server", "producer", "subscriber", "operator", "stranger"):
            spectra.keygen(os.path.join(self.dir, name))
        for role, name in (("producers", "producer"), ("subscribers", "subscriber"),
                           ("operators", "operator")):
            os.mkdir(os.path.join(self.dir, role))
            shutil.copy(self.path(name + ".key"), os.path.join(self.dir, role))
        conf = self.path("spectrad.conf")
        with open(conf, "w") as f:
            f.write(f"[spectrad]\ncurve_secret_key = {self.path('server.key_secret')}\n"
                    f"producer_keys = {self.path('producers')}\n"
                    f"subscriber_keys = {self.path('subscribers')}\n"
                    f"operator_keys = {self.path('operators')}\n")
        self.daemon = Daemon("--config", conf, keys=self.keys("operator"))

    def tearDown(self):
        status = self.daemon.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.assertEqual(status, 0, self.daemon.final_log)

    def path(self, name):
        return os.path.join(self.dir, name)

    def keys(self, who):
        return {"server_key": self.path("server.key"), "key": self.path(who + ".key_secret")}

    def test_roles_and_refusals(self):
        rows = np.arange(6.0).reshape(2, 3)
        with self.daemon.client(**self.keys("operator")) as op, \
                self.daemon.client(**self.keys("producer")) as producer, \
                self.daemon.client(timeout=0.5 * SLOW, **self.keys("stranger")) as stranger, \
                self.daemon.client(timeout=0.5 * SLOW, **self.keys("producer")) as prod_ctl:
            op.create("s", "rows", 3)
            op.attach("s", "p", "topeig", every=1)
            with self.assertRaises(spectra.Timeout):
                stranger.ping()
            with self.assertRaises(spectra.Timeout):
                prod_ctl.list()                      # a producer key cannot use control
            sub = spectra.Subscriber("s.", publish=self.daemon.publish, timeout=0.2,
                                     **self.keys("subscriber"))
            bad_sub = spectra.Subscriber("s.", publish=self.daemon.publish, timeout=0.2,
                                         **self.keys("stranger"))
            try:
                pushed = 0
                body = None
                while body is None and pushed < 50:
                    producer.push_rows("s", rows)
                    pushed += 1
                    try:
                        body = sub.recv(timeout=0.2)
                    except spectra.Timeout:
                        pass
                self.assertIsNotNone(body, "the allowed subscriber got a result")
                self.assertEqual(body["pipeline"], "p")
                with self.assertRaises(spectra.Timeout):
                    bad_sub.recv(timeout=0.5)
            finally:
                sub.close()
                bad_sub.close()
            wait_for(lambda: op.stats()["streams"]["s"]["messages"] == pushed,
                     what="the producer's messages")
            stats = op.stats()
            self.assertTrue(stats["auth"]["curve"])
            self.assertGreaterEqual(stats["auth"]["failures"]["control"], 2)
            self.assertGreaterEqual(stats["auth"]["failures"]["results"], 1)

    def test_key_file_errors(self):
        with self.assertRaises(spectra.KeyFileError):
            spectra.Client(server_key=self.path("server.key"), key=self.path("operator.key"))
        with self.assertRaises(ValueError):
            spectra.Client(server_key=self.path("server.key"))
        with self.assertRaises(FileExistsError):
            spectra.keygen(self.path("operator"))
        self.assertEqual(os.stat(self.path("operator.key_secret")).st_mode & 0o777, 0o600)
        with self.assertRaisesRegex(keys.KeyFileError, r"k:2: public-key: 39 characters"):
            keys.parse_key('curve\n    public-key = "' + "a" * 39 + '"\n', "k")
        with self.assertRaisesRegex(keys.KeyFileError, "no 'curve' section"):
            keys.parse_key("metadata\n", "k")


if __name__ == "__main__":
    unittest.main()
