"""Probing past one machine: two exporters, one target list, split by Prometheus' hashmod.

ci/examples/prometheus-sharded.yml for N = 2, run for real in the lab's namespace: two
`mailready serve` exporters (127.0.0.1:9741 and :9742 there) and one Debian Prometheus
(127.0.0.1:9096, its TSDB in a temporary directory) with two jobs over the same file_sd
target list (tests/integration/prometheus/prometheus-sharded.yml.in). Job i keeps the
targets whose hashmod(target, 2) is i and sends their probes to exporter i.

What is asserted:
- Prometheus' split is the one computed here the way Prometheus computes it (md5 of the
  target, the low 8 bytes as a big-endian integer, mod N), and neither shard is empty;
- every target is an active target of exactly one job and a dropped target of the other,
  and has exactly one `up` series and one `mailready_up` series, on its own shard's job,
  each scraped successfully (at least SCRAPES_WANTED times);
- on the exporters' side: the exporter has no per-target counter, so each exporter's
  config lists only the targets of its own shard. A probe sent to the wrong exporter would
  be refused 403 (up == 0, and mailready_exporter_probes_rejected_total{reason="forbidden"}
  on that exporter); the test asserts no exporter refused anything and both probed.

The ports differ from exporter_test.py's (9731, 9732, 9090): both may run at once. The test
process joins the namespace (setns) before it opens a socket, as exporter_test.py does.
Everything started here is stopped by pid, also when a test fails. In CI a missing lab is a
failure, not a skip.
"""
import hashlib
import json
import subprocess
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

import yaml  # Debian's python3-yaml

from exporter_test import Process, enter_lab_namespace, get, samples
from labtest import BIN, LAB_DIR, lab_is_up

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "ci" / "examples"
PROMETHEUS_TEMPLATE = HERE / "prometheus" / "prometheus-sharded.yml.in"
EXPORTERS = [("127.0.0.1", 9741), ("127.0.0.1", 9742)]
PROMETHEUS = ("127.0.0.1", 9096)
SHARDS = len(EXPORTERS)
JOBS = [f"mailready_shard{i}" for i in range(SHARDS)]
JOB_MATCH = '{job=~"mailready_shard[0-9]+"}'
# Lab hosts whose probe is quick (no dropped port) and whose names hash to both shards.
TARGETS = ["mail.lab.test", "expired.lab.test", "selfsigned.lab.test", "nochain.lab.test",
           "wrongname.lab.test", "weak.lab.test", "tls10.lab.test", "nostarttls.lab.test"]
SCRAPES_WANTED = 3     # successful scrapes of every target before the assertions
WAIT_SECONDS = 120     # at most, for those (each job scrapes every 3 s); generous for a
                       # shared two-core machine


def hashmod(value, modulus):
    """Prometheus' relabel action hashmod (model/relabel/relabel.go): md5 of the source
    labels' joined value, its low 8 bytes as a big-endian uint64, modulo `modulus`."""
    return int.from_bytes(hashlib.md5(value.encode()).digest()[8:], "big") % modulus


def shard_of(target):
    return hashmod(target, SHARDS)


def counter(text, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`; 0 when there is none (the
    exporter writes a reason's counter only once it has counted one)."""
    return sum(v for k, v in samples(text, name).items() if set(labels.items()) <= set(k))


def write_exporter_config(path, targets):
    """One exporter's config: quick checks only (no logins), short timeouts, the lab's CA."""
    config = {
        "modules": {"default": {"timeout_seconds": 5, "wait_timeout_seconds": 1,
                                "from_inside": True, "ca_file": str(LAB_DIR / "pki" / "root.pem"),
                                "only": ["ports.reachability", "imap.greeting"]}},
        "targets": {t: {} for t in targets},
    }
    path.write_text(json.dumps(config, indent=2))
    return path


class ShardingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not lab_is_up():
            raise AssertionError("the lab is not running: ci/lab.sh start (needs root)")
        enter_lab_namespace()
        cls.tmp = tempfile.TemporaryDirectory(prefix="mailready-sharding-")
        cls.addClassCleanup(cls.tmp.cleanup)
        tmp = Path(cls.tmp.name)
        cls.expected = {t: shard_of(t) for t in TARGETS}

        # Exporter i knows only shard i's targets, so a misrouted probe is refused (403).
        cls.exporters = []
        for i, (host, port) in enumerate(EXPORTERS):
            mine = [t for t in TARGETS if cls.expected[t] == i]
            config = write_exporter_config(tmp / f"exporter{i}.json", mine)
            exporter = Process([BIN, "serve", "--listen", f"{host}:{port}", "--config",
                                str(config)], tmp / f"exporter{i}.log")
            cls.addClassCleanup(exporter.stop)
            exporter.wait_ready((host, port), "/healthz")
            cls.exporters.append(exporter)

        # One target list for both jobs, as file_sd reads it.
        targets_file = tmp / "targets.json"
        targets_file.write_text(json.dumps([{"targets": TARGETS}]))
        text = PROMETHEUS_TEMPLATE.read_text().replace("@TARGETS@", str(targets_file))
        for i, address in enumerate(EXPORTERS):
            text = text.replace(f"@EXPORTER{i}@", "%s:%d" % address)
        cls.prometheus_config = tmp / "prometheus.yml"
        cls.prometheus_config.write_text(text)
        checked = subprocess.run(["/usr/bin/promtool", "check", "config",
                                  str(cls.prometheus_config)], capture_output=True, text=True)
        if checked.returncode != 0:
            raise AssertionError("promtool check config:\n" + checked.stdout + checked.stderr)

        cls.started = time.time()
        cls.prometheus = Process(["/usr/bin/prometheus", f"--config.file={cls.prometheus_config}",
                                  f"--storage.tsdb.path={tmp / 'data'}",
                                  "--web.listen-address=%s:%d" % PROMETHEUS,
                                  "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                                 tmp / "prometheus.log")
        cls.addClassCleanup(cls.prometheus.stop)
        cls.prometheus.wait_ready(PROMETHEUS, "/-/ready", seconds=60)
        cls.wait_for_scrapes()

    @classmethod
    def api(cls, path, **params):
        """The `data` of one Prometheus HTTP API answer."""
        status, _, body = get(f"/api/v1/{path}?" + urllib.parse.urlencode(params, doseq=True),
                              address=PROMETHEUS, timeout=20)
        if status != 200:
            raise AssertionError(f"/api/v1/{path} {params}: {status} {body}")
        answer = json.loads(body)
        if answer.get("status") != "success":
            raise AssertionError(f"/api/v1/{path} {params}: {body}")
        return answer["data"]

    @classmethod
    def query(cls, q):
        """{instance: value} of an instant query whose series are one per instance."""
        out = {}
        for r in cls.api("query", query=q)["result"]:
            instance = r["metric"].get("instance")
            if instance in out:
                raise AssertionError(f"{q}: two series for {instance}")
            out[instance] = float(r["value"][1])
        return out

    @classmethod
    def wait_for_scrapes(cls):
        """Polls until every target has SCRAPES_WANTED successful scrapes, WAIT_SECONDS at
        most; the first scrape of each target comes at a random offset in its interval."""
        deadline = time.monotonic() + WAIT_SECONDS
        ok = {}
        while time.monotonic() < deadline:
            ok = cls.query(f"sum by (instance) (sum_over_time(up{JOB_MATCH}[1h]))")
            if all(ok.get(t, 0) >= SCRAPES_WANTED for t in TARGETS):
                cls.waited = time.time() - cls.started
                print(f"\nsharding: every target scraped {SCRAPES_WANTED} times "
                      f"{cls.waited:.1f} s after Prometheus started")
                return
            time.sleep(1)
        raise AssertionError(
            f"successful scrapes per target after {WAIT_SECONDS} s: {ok}\n"
            f"prometheus:\n{cls.prometheus.log()}\n"
            + "\n".join(f"exporter {i}:\n{e.log()}" for i, e in enumerate(cls.exporters)))

    def test_the_hash_splits_the_list_into_two_non_empty_shards(self):
        split = {i: sorted(t for t, s in self.expected.items() if s == i) for i in range(SHARDS)}
        self.assertGreaterEqual(len(TARGETS), 6)
        for i in range(SHARDS):
            self.assertTrue(split[i], f"shard {i} is empty: {split}")
        # The known answer for one name, so the hash above cannot drift unnoticed.
        self.assertEqual(hashmod("mail.lab.test", 2), 1)

    def test_prometheus_splits_the_targets_as_hashmod_does(self):
        targets = self.api("targets")
        active = {}
        for t in targets["activeTargets"]:
            if t["labels"]["job"] in JOBS:
                active.setdefault(t["labels"]["instance"], []).append(t)
        dropped = {}
        for t in targets["droppedTargets"]:
            job = t["discoveredLabels"].get("job")
            if job in JOBS:
                dropped.setdefault(t["discoveredLabels"]["__address__"], []).append(job)
        self.assertEqual(sorted(active), sorted(TARGETS))
        for target, shard in self.expected.items():
            with self.subTest(target=target):
                self.assertEqual([t["labels"]["job"] for t in active[target]], [JOBS[shard]])
                only = active[target][0]
                self.assertEqual(only["labels"]["shard"], str(shard))
                self.assertEqual(only["scrapePool"], JOBS[shard])
                scraped = urllib.parse.urlsplit(only["scrapeUrl"])
                self.assertEqual(scraped.netloc, "%s:%d" % EXPORTERS[shard])
                self.assertEqual(urllib.parse.parse_qs(scraped.query)["target"], [target])
                # ... and every other job saw it and dropped it.
                self.assertEqual(sorted(dropped.get(target, [])),
                                 sorted(j for j in JOBS if j != JOBS[shard]))

    def test_every_target_has_exactly_one_series_on_its_own_shard(self):
        for metric in ("up", "mailready_up"):
            with self.subTest(metric=metric):
                series = self.api("series", **{"match[]": metric + JOB_MATCH,
                                               "start": f"{self.started - 60:.3f}"})
                by_target = {}
                for s in series:
                    by_target.setdefault(s["instance"], []).append(s)
                self.assertEqual(sorted(by_target), sorted(TARGETS), series)
                for target, found in by_target.items():
                    self.assertEqual(len(found), 1, f"{metric} of {target}: {found}")
                    self.assertEqual(found[0]["job"], JOBS[self.expected[target]], found)
                    self.assertEqual(found[0]["shard"], str(self.expected[target]), found)
                    if metric == "mailready_up":
                        self.assertEqual(found[0]["target"], target, found)

    def test_every_target_was_scraped_and_probed(self):
        # Every target scraped successfully (up 1) SCRAPES_WANTED times or more. A scrape
        # that failed (a timeout on a busy machine) is printed, not failed on: a misrouted
        # probe, the failure that matters here, is asserted on the exporters' side (403s).
        scrapes = self.query(f"sum by (instance) (count_over_time(up{JOB_MATCH}[1h]))")
        succeeded = self.query(f"sum by (instance) (sum_over_time(up{JOB_MATCH}[1h]))")
        self.assertEqual(sorted(succeeded), sorted(TARGETS))
        for target in TARGETS:
            self.assertGreaterEqual(succeeded[target], SCRAPES_WANTED, target)
        failed = {t: scrapes[t] - succeeded[t] for t in TARGETS if scrapes[t] > succeeded[t]}
        print(f"\nsharding: {sum(scrapes.values()):.0f} scrapes, failed: {failed or 'none'}")
        # ... and each probe ran: the lab's hosts all answer on 993.
        self.assertEqual(self.query(f"max by (instance) (max_over_time(mailready_up{JOB_MATCH}"
                                    "[1h]))"), {t: 1.0 for t in TARGETS})

    def test_each_exporter_probed_only_its_own_shard(self):
        for i, address in enumerate(EXPORTERS):
            with self.subTest(exporter=i):
                status, _, body = get("/metrics", address=address, timeout=20)
                self.assertEqual(status, 200, body)
                mine = sum(1 for s in self.expected.values() if s == i)
                self.assertGreaterEqual(counter(body, "mailready_exporter_probes_total"),
                                        SCRAPES_WANTED * mine, body)
                # No refusal at all: above all no 403, a target of the other shard.
                self.assertEqual(counter(body, "mailready_exporter_probes_rejected_total"), 0,
                                 body)
        # The exporters' own /metrics, scraped by the one unsharded job.
        self.assertEqual(self.query('up{job="mailready_exporter"}'),
                         {"%s:%d" % a: 1.0 for a in EXPORTERS})


class ShardingExamplesTest(unittest.TestCase):
    """ci/examples' files for running at scale: promtool, YAML and systemd accept them, and
    their recipes for splitting the list put every host in exactly one shard."""

    def test_sharded_scrape_config(self):
        proc = subprocess.run(["/usr/bin/promtool", "check", "config",
                               str(EXAMPLES / "prometheus-sharded.yml")],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_every_shard_reads_the_same_targets_and_keeps_its_own(self):
        config = yaml.safe_load((EXAMPLES / "prometheus-sharded.yml").read_text())
        jobs = [j for j in config["scrape_configs"] if j["job_name"].startswith("mailready_shard")]
        self.assertGreaterEqual(len(jobs), 2)
        for i, job in enumerate(jobs):
            with self.subTest(job=job["job_name"]):
                self.assertEqual(job["static_configs"], jobs[0]["static_configs"])
                self.assertEqual(job["file_sd_configs"], jobs[0]["file_sd_configs"])
                hashing, keep = job["relabel_configs"][:2]
                self.assertEqual((hashing["action"], hashing["source_labels"],
                                  hashing["modulus"], hashing["target_label"]),
                                 ("hashmod", ["__address__"], len(jobs), "__tmp_hash"))
                self.assertEqual((keep["action"], keep["source_labels"], keep["regex"]),
                                 ("keep", ["__tmp_hash"], str(i)))

    def test_yaml_examples_parse(self):
        for path in [EXAMPLES / "k8s-cronjob.yaml", EXAMPLES / "mailready-targets.yml"]:
            with self.subTest(path=path.name):
                self.assertTrue(list(yaml.safe_load_all(path.read_text())))

    def test_k8s_indexed_job_checks_every_host_once(self):
        # The pod's own script, run for every index with `cat` in place of mailready: the
        # shards are disjoint and together are the ConfigMap's list.
        text = (EXAMPLES / "k8s-cronjob.yaml").read_text()
        docs = {d["kind"]: d for d in yaml.safe_load_all(text)}
        job = docs["CronJob"]["spec"]["jobTemplate"]["spec"]
        container = job["template"]["spec"]["containers"][0]
        shards = int({e["name"]: e["value"] for e in container["env"]}["SHARDS"])
        self.assertEqual((job["completionMode"], job["completions"], job["parallelism"]),
                         ("Indexed", shards, shards))
        listing = docs["ConfigMap"]["data"]["targets.txt"]
        hosts = [l for l in listing.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        script = container["args"][0]
        self.assertIn("mailready check --targets - ", script)
        with tempfile.TemporaryDirectory(prefix="mailready-k8s-") as tmp:
            targets = Path(tmp) / "targets.txt"
            targets.write_text(listing)
            script = script.replace("/etc/mailready/targets.txt", str(targets))
            script = "\n".join("    cat" if "mailready check" in line else line
                               for line in script.splitlines())
            seen = []
            for i in range(shards):
                proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                                      env={"SHARDS": str(shards), "JOB_COMPLETION_INDEX": str(i),
                                           "PATH": "/usr/bin:/bin"})
                self.assertEqual(proc.returncode, 0, proc.stderr)
                mine = proc.stdout.split()
                self.assertTrue(mine, f"index {i} got no host")
                seen.extend(mine)
        self.assertEqual(sorted(seen), sorted(hosts))

    def test_systemd_units_verify_and_split_covers_every_host_once(self):
        units = EXAMPLES / "systemd"
        service = (units / "mailready-batch@.service").read_text()
        with tempfile.TemporaryDirectory(prefix="mailready-systemd-") as tmp:
            tmp = Path(tmp)
            # systemd-analyze wants an instance and an executable binary.
            (tmp / "mailready-batch@0.service").write_text(
                service.replace("/usr/bin/mailready", str(Path(BIN).resolve())))
            (tmp / "mailready-batch@0.timer").write_text(
                (units / "mailready-batch@.timer").read_text())
            proc = subprocess.run(["systemd-analyze", "verify", "mailready-batch@0.service",
                                   "mailready-batch@0.timer"], cwd=tmp, capture_output=True,
                                  text=True)
            self.assertEqual((proc.returncode, proc.stdout + proc.stderr), (0, ""))
            # The comment's two-line recipe for the shard files, run on a list of its own.
            recipe = [l[1:].strip() for l in service.splitlines()
                      if l.startswith("#   grep") or l.startswith("#     split")]
            self.assertEqual(len(recipe), 2, service)
            hosts = [f"mail{n}.example.test" for n in range(10)]
            (tmp / "targets.txt").write_text("# list\n" + "\n\n".join(hosts) + "\n")
            (tmp / "shards").mkdir()
            script = " ".join(recipe).replace("/etc/mailready", str(tmp))
            proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            files = sorted(p.name for p in (tmp / "shards").iterdir())
            self.assertEqual(files, ["0.txt", "1.txt", "2.txt", "3.txt"])
            seen = [h for f in files for h in (tmp / "shards" / f).read_text().split()]
            self.assertEqual(sorted(seen), sorted(hosts))


if __name__ == "__main__":
    unittest.main()
