#!/usr/bin/python3
"""Checks ops/alerts/signet.rules.yaml against the code it watches and the runbooks it points to.

  * structure: groups with unique names; every rule an alert with a unique CamelCase name, an
    expression, a `for` duration if any, labels.severity warning|critical, and annotations summary,
    description and runbook_url, the last naming an existing, non-empty ops/runbooks/*.md;
  * every metric an expression uses is registered in daemon/*.cc (histograms with their
    _bucket/_sum/_count), or is one of the few named external ones (Prometheus' `up`,
    kube-state-metrics, node_exporter); every label matcher on a signet metric uses a label that
    metric has (or job/instance), and the values of code, method, tier and result are values the
    code produces;
  * certificate expiry: each tier has a warning at exactly the /__heartbeat__ threshold of
    daemon/server.h (15 days, 15 weeks, 15 months) and a shorter critical one;
  * the issue's alerts are there: HSM down, error ratio by gRPC code, queue saturation, rotation
    failures and staleness;
  * with promtool (Debian package `prometheus`; optional, not installed by ops/install-deps.sh):
    `promtool check rules` and the unit tests in tests/ops/alert_rules.test.yaml;
  * each check fails on a deliberately broken copy.

usage: alert_rules_test.py [--repo ROOT] [--promtool PATH]
"""
import argparse
import copy
import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

import yaml

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))

# Metrics that signetd does not export but some rules read, and who exports them.
EXTERNAL_METRICS = {
    "up": "Prometheus itself, per scrape target",
    "kube_job_status_failed": "kube-state-metrics (external rotation on Kubernetes)",
    "node_systemd_unit_state": "node_exporter --collector.systemd (external rotation under systemd)",
}
TARGET_LABELS = {"job", "instance"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "inf", "nan"}


def registered_metrics(repo):
    """name -> (kind, [label names]) for every metric daemon/*.cc registers."""
    out = {}
    pattern = re.compile(r'\.Add(Counter|Gauge|Histogram|CallbackGauge)\(\s*"([A-Za-z_:][A-Za-z0-9_:]*)"\s*,\s*'
                         r'"(?:[^"\\]|\\.)*"\s*(?:,\s*\{([^}]*)\})?', re.S)
    for path in glob.glob(os.path.join(repo, "daemon", "*.cc")):
        if path.endswith("_test.cc"):
            continue
        with open(path) as f:
            for kind, name, labels in pattern.findall(f.read()):
                out[name] = (kind, re.findall(r'"([^"]+)"', labels or ""))
    return out


def label_values(repo):
    """Label values the code produces, for the labels whose values are a closed set."""
    with open(os.path.join(repo, "daemon", "signer_service.cc")) as f:
        codes = set(re.findall(r'case grpc::StatusCode::\w+: return "([A-Z_]+)";', f.read()))
    with open(os.path.join(repo, "daemon", "server.cc")) as f:
        server = f.read()
    methods = set(re.findall(r'"(\w+)"', re.search(r"kMethods\[\] = \{([^}]*)\}", server).group(1)))
    tiers = set(re.findall(r'std::pair\{"(\w+)", s->', server))
    results = {"failed"} | set(re.findall(r'outcome->rotated \? "(\w+)" : "(\w+)"', server)[0])
    return {"code": codes, "method": methods, "tier": tiers, "result": results}


def heartbeat_thresholds(repo):
    """tier -> seconds, from the kWarn*Expiry constants of daemon/server.h."""
    with open(os.path.join(repo, "daemon", "server.h")) as f:
        text = f.read()
    out = {}
    for tier, const in (("ee", "kWarnEeExpiry"), ("intermediate", "kWarnIntermediateExpiry"), ("root", "kWarnRootExpiry")):
        m = re.search(const + r" = absl::Hours\(([\d\s*]+)\)", text)
        out[tier] = eval_product(m.group(1)) * 3600
    return out


def eval_product(text):
    """'24 * 7 * 15' -> 2520; digits and * only."""
    if not re.fullmatch(r"\s*\d+(\s*\*\s*\d+)*\s*", text):
        raise ValueError("not a product of integers: %r" % text)
    value = 1
    for part in text.split("*"):
        value *= int(part)
    return value


def selectors(expr):
    """(metric or None, [(label, op, value)]) for each vector selector in a PromQL expression."""
    out = []
    for m in re.finditer(r'([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}', expr):
        matchers = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', m.group(2))
        out.append((m.group(1), matchers))
    return out


def metric_names(expr):
    """Metric names in an expression: identifiers that are not functions, keywords, label names or
    grouping labels."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)                    # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)                    # ranges
    text = re.sub(r"\s+(by|without)\s*\([^)]*\)", " ", text)      # sum by (a) (x) -> sum (x)
    text = re.sub(r"\b(on|ignoring|group_left|group_right)\s*(\([^)]*\))?", " ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        after = text[m.end():].lstrip()
        if after.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


def all_rules(doc):
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            yield g, r


# ---- checks

def check_structure(doc, repo):
    problems = []
    if set(doc) != {"groups"}:
        problems.append("top level must be exactly 'groups', got %s" % sorted(doc))
    group_names, alert_names = set(), set()
    for g in doc.get("groups", []):
        if not g.get("name") or g["name"] in group_names:
            problems.append("group name missing or repeated: %r" % g.get("name"))
        group_names.add(g.get("name"))
        if not g.get("rules"):
            problems.append("group %s has no rules" % g.get("name"))
    for g, r in all_rules(doc):
        name = r.get("alert")
        if not name or "record" in r:
            problems.append("%s: only alerting rules here, got %r" % (g.get("name"), r))
            continue
        if not re.fullmatch(r"Signet[A-Z][A-Za-z]+", name):
            problems.append("%s: alert names are CamelCase starting with Signet" % name)
        if name in alert_names:
            problems.append("%s: repeated alert name" % name)
        alert_names.add(name)
        if not isinstance(r.get("expr"), str) or not r["expr"].strip():
            problems.append("%s: no expr" % name)
        if "for" in r and not re.fullmatch(r"\d+[smh]", str(r["for"])):
            problems.append("%s: for %r is not a duration" % (name, r["for"]))
        if (r.get("labels") or {}).get("severity") not in ("warning", "critical"):
            problems.append("%s: labels.severity must be warning or critical" % name)
        ann = r.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problems.append("%s: annotation %s missing" % (name, key))
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"(?:.*/)?(ops/runbooks/[a-z0-9-]+\.md)(#[a-z0-9-]+)?", url)
        if not m:
            problems.append("%s: runbook_url %r does not name ops/runbooks/<name>.md" % (name, url))
            continue
        path = os.path.join(repo, m.group(1))
        if not os.path.isfile(path):
            problems.append("%s: runbook %s does not exist" % (name, m.group(1)))
        else:
            with open(path) as f:
                text = f.read()
            if not text.startswith("# ") or len(text.splitlines()) < 20:
                problems.append("%s: runbook %s is empty or has no title" % (name, m.group(1)))
    return problems


def check_metrics(doc, metrics, values):
    problems = []
    exposed = {}
    for name, (kind, labels) in metrics.items():
        exposed[name] = (name, labels)
        if kind == "Histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                exposed[name + suffix] = (name, labels + (["le"] if suffix == "_bucket" else []))
    for _, r in all_rules(doc):
        name, expr = r.get("alert"), r.get("expr", "")
        for metric in sorted(metric_names(expr)):
            if metric not in exposed and metric not in EXTERNAL_METRICS:
                problems.append("%s: metric %s is not registered in daemon/*.cc" % (name, metric))
        for metric, matchers in selectors(expr):
            if metric is None:
                problems.append("%s: a selector without a metric name" % name)
                continue
            if metric not in exposed:
                continue
            labels = set(exposed[metric][1]) | TARGET_LABELS
            for label, op, value in matchers:
                if label not in labels:
                    problems.append("%s: %s has no label %s (it has %s)" % (name, metric, label, sorted(labels)))
                if label in values and op in ("=", "=~"):
                    for v in (value.split("|") if op == "=~" else [value]):
                        if v not in values[label] and not re.search(r"[.*+?\[\]()]", v):
                            problems.append("%s: %s=%r is never produced (the code has %s)"
                                            % (name, label, v, sorted(values[label])))
    return problems


def expiry_rules(doc, tier):
    """(severity, threshold seconds) of each rule alerting on signet_certificate_expiry_seconds{tier=...} < N."""
    out = []
    for _, r in all_rules(doc):
        expr = r.get("expr", "")
        if "signet_certificate_expiry_seconds" not in expr or "unless" in expr:
            continue
        if not re.search(r'tier="%s"' % tier, expr) or r["alert"].startswith("SignetRotation"):
            continue
        m = re.search(r"<\s*([\d\s*]+)$", expr.strip())
        if m:
            out.append((r["labels"]["severity"], eval_product(m.group(1)), r["alert"]))
    return out


def check_expiry_thresholds(doc, thresholds):
    problems = []
    for tier, seconds in thresholds.items():
        rules = expiry_rules(doc, tier)
        warn = [s for sev, s, _ in rules if sev == "warning"]
        crit = [s for sev, s, _ in rules if sev == "critical"]
        if warn != [seconds]:
            problems.append("tier %s: want one warning at the heartbeat threshold %d s, got %s" % (tier, seconds, warn))
        if len(crit) != 1 or not crit[0] < seconds:
            problems.append("tier %s: want one critical rule below %d s, got %s" % (tier, seconds, crit))
    return problems


def check_coverage(doc):
    """The alerts the issue asks for."""
    problems = []
    exprs = {r["alert"]: r.get("expr", "") for _, r in all_rules(doc)}

    def has(what, pred):
        if not any(pred(e) for e in exprs.values()):
            problems.append("no alert for " + what)

    has("HSM down", lambda e: re.search(r"signet_hsm_up\b.*==\s*0", e))
    has("server error ratio by gRPC code", lambda e: "signet_requests_total" in e and "code=~" in e and "/" in e)
    has("queue rejections", lambda e: 'code="RESOURCE_EXHAUSTED"' in e)
    has("queue depth", lambda e: "signet_queue_depth" in e)
    has("rotation failures", lambda e: 'signet_rotations_total{result="failed"}' in e)
    has("rotation staleness", lambda e: "signet_rotation_last_success_timestamp_seconds" in e)
    has("a signer without an active key", lambda e: "unless" in e and "signet_certificate_expiry_seconds" in e)
    return problems


def find_promtool():
    for candidate in (ARGS.promtool, os.environ.get("PROMTOOL"), shutil.which("promtool")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class AlertRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = os.path.join(ARGS.repo, "ops", "alerts", "signet.rules.yaml")
        with open(cls.path) as f:
            cls.doc = yaml.safe_load(f)
        cls.metrics = registered_metrics(ARGS.repo)
        cls.values = label_values(ARGS.repo)
        cls.thresholds = heartbeat_thresholds(ARGS.repo)

    def assertNoProblems(self, problems):
        self.assertEqual([], problems, "\n  " + "\n  ".join(problems))

    def test_the_source_was_read(self):
        for m in ("signet_requests_total", "signet_hsm_up", "signet_queue_depth", "signet_certificate_expiry_seconds",
                  "signet_rotations_total", "signet_rotation_last_success_timestamp_seconds", "signet_call_seconds"):
            self.assertIn(m, self.metrics)
        self.assertEqual(["method", "code"], self.metrics["signet_requests_total"][1])
        self.assertEqual({"ee", "intermediate", "root"}, self.values["tier"])
        self.assertEqual({"rotated", "not_due", "failed"}, self.values["result"])
        self.assertIn("RESOURCE_EXHAUSTED", self.values["code"])
        self.assertEqual({"ee": 15 * 86400, "intermediate": 15 * 7 * 86400, "root": 456 * 86400}, self.thresholds)

    def test_structure_and_runbooks(self):
        self.assertNoProblems(check_structure(self.doc, ARGS.repo))

    def test_metrics_and_labels_exist_in_the_daemon(self):
        self.assertNoProblems(check_metrics(self.doc, self.metrics, self.values))

    def test_expiry_thresholds_match_the_heartbeat(self):
        self.assertNoProblems(check_expiry_thresholds(self.doc, self.thresholds))

    def test_the_issues_alerts_are_there(self):
        self.assertNoProblems(check_coverage(self.doc))

    def test_promtool(self):
        promtool = find_promtool()
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus, optional): "
                          "`promtool check rules` and the rule unit tests did not run")
        r = subprocess.run([promtool, "check", "rules", self.path], capture_output=True, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        r = subprocess.run([promtool, "test", "rules", os.path.join(HERE, "alert_rules.test.yaml")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)

    def test_checks_fail_on_broken_copies(self):
        def rule(doc, name):
            return next(r for _, r in all_rules(doc) if r["alert"] == name)

        def mutated(fn):
            d = copy.deepcopy(self.doc)
            fn(d)
            return d

        cases = {
            "renamed metric": (lambda d: rule(d, "SignetHsmDown").update(expr="signet_hsm_available == 0"),
                               lambda d: check_metrics(d, self.metrics, self.values)),
            "unknown label": (lambda d: rule(d, "SignetQueueRejecting").update(
                expr='sum(rate(signet_requests_total{status="RESOURCE_EXHAUSTED"}[5m])) > 0'),
                lambda d: check_metrics(d, self.metrics, self.values)),
            "impossible code": (lambda d: rule(d, "SignetQueueRejecting").update(
                expr='sum(rate(signet_requests_total{code="RESOURCE_EXHAUSTION"}[5m])) > 0'),
                lambda d: check_metrics(d, self.metrics, self.values)),
            "impossible tier": (lambda d: rule(d, "SignetEndEntityExpiringSoon").update(
                expr=rule(d, "SignetEndEntityExpiringSoon")["expr"].replace('"ee"', '"leaf"')),
                lambda d: check_metrics(d, self.metrics, self.values)),
            "no severity": (lambda d: rule(d, "SignetHsmDown")["labels"].pop("severity"),
                            lambda d: check_structure(d, ARGS.repo)),
            "missing runbook": (lambda d: rule(d, "SignetHsmDown")["annotations"].update(runbook_url="ops/runbooks/nope.md"),
                                lambda d: check_structure(d, ARGS.repo)),
            "repeated alert": (lambda d: d["groups"][0]["rules"].append(copy.deepcopy(d["groups"][0]["rules"][0])),
                               lambda d: check_structure(d, ARGS.repo)),
            "ee threshold off the heartbeat": (lambda d: rule(d, "SignetEndEntityExpiringSoon").update(
                expr=rule(d, "SignetEndEntityExpiringSoon")["expr"].replace("15 * 86400", "14 * 86400")),
                lambda d: check_expiry_thresholds(d, self.thresholds)),
            "no HSM alert": (lambda d: [g["rules"].remove(r) for g in d["groups"] for r in list(g["rules"])
                                        if "signet_hsm_up" in r["expr"]], check_coverage),
        }
        for name, (mutate, check) in cases.items():
            with self.subTest(broken=name):
                self.assertTrue(check(mutated(mutate)), "check passed a copy with: " + name)
        self.assertEqual({"signet_requests_total"}, metric_names(
            'sum by (job, method) (rate(signet_requests_total{code=~"A|B"}[5m])) / on (job) group_left sum(x_y{a="b"}) > 0'
        ) - {"x_y"})


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=os.path.normpath(os.path.join(HERE, "..", "..")))
    parser.add_argument("--promtool", default=None)
    ARGS, rest = parser.parse_known_args()
    return 0 if unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2).result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
