"""`cmake --install` of the build, staged with DESTDIR: which files land where, with which
modes, and a systemd unit that names the binary by the prefix installed to. The Debian
package is made from these same rules (ci/package.sh installs and runs it)."""
import gzip
import os
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

BUILD = Path(os.environ.get("MAILREADY_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))

EXPECTED = {
    "bin/mailready": 0o755,
    "share/man/man1/mailready.1.gz": 0o644,
    "share/bash-completion/completions/mailready": 0o644,
    "lib/systemd/system/mailready.service": 0o644,
    "share/mailready/schema/report.schema.json": 0o644,
    "share/mailready/examples/mailready-exporter.json": 0o644,
    "share/mailready/examples/prometheus.yml": 0o644,
    "share/doc/mailready/copyright": 0o644,
    "share/doc/mailready/changelog.Debian.gz": 0o644,
    "share/lintian/overrides/mailready": 0o644,
}
MAN = bool(os.environ.get("MAILREADY_MAN_PAGE"))  # unset: built with -DMAILREADY_MAN=OFF
if not MAN:
    del EXPECTED["share/man/man1/mailready.1.gz"]


def install(destdir, prefix):
    run = subprocess.run(["cmake", "--install", str(BUILD), "--prefix", prefix],
                         env={**os.environ, "DESTDIR": str(destdir)}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return Path(str(destdir) + prefix)


class StagedInstall(unittest.TestCase):
    def test_a_system_install_under_usr(self):
        with tempfile.TemporaryDirectory() as stage:
            root = install(stage, "/usr")
            for path, mode in EXPECTED.items():
                with self.subTest(path=path):
                    st = (root / path).stat()
                    self.assertEqual(stat.S_IMODE(st.st_mode), mode)
            for directory in (root / "share" / "mailready", root / "lib" / "systemd"):
                self.assertEqual(stat.S_IMODE(directory.stat().st_mode), 0o755)
            unit = (root / "lib/systemd/system/mailready.service").read_text()
            self.assertIn("\nExecStart=/usr/bin/mailready serve --config /etc/mailready/exporter.json", unit)
            self.assertIn("\nLoadCredential=password:/etc/mailready/credentials\n", unit)
            self.assertNotRegex(unit, r"@[A-Z_]+@")  # every placeholder filled in
            # The credentials directory the unit loads from: root's alone.
            credentials = Path(stage) / "etc/mailready/credentials"
            self.assertEqual(stat.S_IMODE(credentials.stat().st_mode), 0o700)
            if MAN:
                page = gzip.decompress((root / "share/man/man1/mailready.1.gz").read_bytes())
                self.assertIn('.TH "mailready" "1"', page.decode())
            changelog = gzip.decompress((root / "share/doc/mailready/changelog.Debian.gz").read_bytes())
            self.assertRegex(changelog.decode().splitlines()[0], r"^mailready \(\d+\.\d+\.\d+-\d+\) ")

    def test_another_prefix_gets_a_unit_for_it_and_nothing_in_etc(self):
        with tempfile.TemporaryDirectory() as stage:
            root = install(stage, "/opt/mailready")
            for path in EXPECTED:
                self.assertTrue((root / path).exists(), path)
            unit = (root / "lib/systemd/system/mailready.service").read_text()
            self.assertIn("\nExecStart=/opt/mailready/bin/mailready serve ", unit)
            self.assertIn("/opt/mailready/share/mailready/examples/mailready-exporter.json", unit)
            self.assertFalse((Path(stage) / "etc").exists())


if __name__ == "__main__":
    unittest.main()
