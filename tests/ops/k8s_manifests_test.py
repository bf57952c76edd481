#!/usr/bin/python3
"""Offline checks of the Kubernetes manifests in ops/k8s/ and of ops/k8s/base/lease-rotate.sh.

What it checks (each check is a function returning a list of problems):
  * every YAML file parses; every object has apiVersion, kind, metadata.name, from a known
    (apiVersion, kind) table; names are unique per kind;
  * each kustomization's resources, generator files and patches exist, and in the base every
    manifest file is listed (nothing lies around unused);
  * pods: runAsNonRoot, a non-root UID, seccomp RuntimeDefault, and for every container and init
    container no privilege escalation, not privileged, read-only root filesystem, all capabilities
    dropped and none added, memory requests and limits; no host namespaces or hostPath;
  * the PIN: never in an environment variable; its Secret is mounted only into the pin-file init
    container (mode 0400), which copies it into a memory-backed emptyDir that the main container
    mounts read-only, and hsm.pin_file points into that mount;
  * Deployment: >= 3 replicas, readiness on /__heartbeat__ and liveness on /__lbheartbeat__ over
    HTTPS on the side port (the paths exist in daemon/http_side.cc and /__heartbeat__ answers 503),
    ports agree with signetd.yaml, a grace period covering preStop + drain_timeout;
  * PodDisruptionBudget, Services and NetworkPolicy select the Deployment's pods; NetworkPolicy
    gRPC peers are namespace AND pod selectors; the x5u Service publishes not-ready addresses;
  * CronJob: concurrencyPolicy Forbid, runs lease-rotate.sh with the Lease's name and duration,
    activeDeadlineSeconds below the Lease duration, its service account bound to a Role that can
    only get/update that one Lease;
  * signetd.yaml in each ConfigMap generator: rotation.mode external, only keys that
    ops/config/signetd.example.yaml documents, paths inside the containers' mounts, and accepted by
    the real `signetd --check-config` (TLS files replaced by throwaway ones made with openssl);
  * with kubectl present (not required), `kubectl kustomize` renders base and overlays and the pod
    checks pass on the rendered output too;
  * lease-rotate.sh against a fake kubectl (tests/ops/fake_kubectl.py): absent Lease -> creates and
    rotates; held and fresh -> no rotation; held and expired -> takes over; Conflict on replace or
    AlreadyExists on create -> no rotation; the Lease is released after rotating (even when signet
    fails, whose status is returned); API errors fail; concurrent runs never rotate at once;
  * every check fails on a deliberately broken copy of the manifests.

usage: k8s_manifests_test.py [--repo ROOT] --signetd PATH [--kubectl PATH]
"""
import argparse
import copy
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

ARGS = None
HERE = os.path.dirname(os.path.abspath(__file__))

KNOWN_KINDS = {
    ("v1", "ServiceAccount"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"), ("v1", "ConfigMap"),
    ("v1", "Secret"), ("apps/v1", "Deployment"), ("batch/v1", "CronJob"), ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"), ("coordination.k8s.io/v1", "Lease"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}
# Objects the base expects to exist but never ships (made from secrets or ceremony outputs).
EXTERNAL = {("Secret", "signetd-hsm-pin"), ("Secret", "signetd-tls"), ("ConfigMap", "signetd-client-ca"),
            ("ConfigMap", "signet-pki")}
PIN_SECRET = "signetd-hsm-pin"


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


class Tree:
    """The objects of one kustomization directory (not rendered), by kind and name."""

    def __init__(self, directory):
        self.dir = directory
        self.kustomization = load_yaml_docs(os.path.join(directory, "kustomization.yaml"))[0]
        self.objects = []
        for res in self.kustomization.get("resources", []):
            p = os.path.join(directory, res)
            if os.path.isfile(p):
                self.objects.extend(load_yaml_docs(p))
        self.generated = {}  # configMap name -> {file name: text}
        for gen in self.kustomization.get("configMapGenerator", []):
            files = {}
            for entry in gen.get("files", []):
                key, _, src = entry.partition("=")
                src = src or key
                with open(os.path.join(directory, src)) as f:
                    files[os.path.basename(key)] = f.read()
            self.generated[gen["name"]] = files

    def get(self, kind, name=None):
        found = [o for o in self.objects if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]
        return found


def pod_specs(objects):
    """(owner, pod spec) for every Deployment and CronJob."""
    out = []
    for o in objects:
        if o.get("kind") == "Deployment":
            out.append(("Deployment/" + o["metadata"]["name"], o["spec"]["template"]["spec"]))
        elif o.get("kind") == "CronJob":
            out.append(("CronJob/" + o["metadata"]["name"], o["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
    return out


def all_containers(spec):
    return list(spec.get("initContainers", [])) + list(spec.get("containers", []))


def labels_match(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---- checks: each returns a list of problems (empty = fine)

def check_object_shapes(objects):
    problems = []
    seen = set()
    for o in objects:
        if not isinstance(o, dict):
            problems.append("a document is not a mapping: %r" % (o,))
            continue
        api, kind, name = o.get("apiVersion"), o.get("kind"), (o.get("metadata") or {}).get("name")
        if not api or not kind or not name:
            problems.append("missing apiVersion/kind/metadata.name: %r" % ({k: o.get(k) for k in ("apiVersion", "kind")},))
            continue
        if (api, kind) not in KNOWN_KINDS:
            problems.append("%s/%s: unexpected apiVersion/kind %s %s" % (kind, name, api, kind))
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
            problems.append("%s/%s: not a DNS-1123 label" % (kind, name))
        if (kind, name) in seen:
            problems.append("%s/%s defined twice" % (kind, name))
        seen.add((kind, name))
        if "namespace" in o["metadata"]:
            problems.append("%s/%s: namespace belongs in the overlay's kustomization" % (kind, name))
    return problems


def check_kustomization_files(tree, require_all_listed):
    problems = []
    k = tree.kustomization
    if k.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or k.get("kind") != "Kustomization":
        problems.append("%s: kustomization apiVersion/kind" % tree.dir)
    used = {"kustomization.yaml"}
    for res in k.get("resources", []):
        p = os.path.normpath(os.path.join(tree.dir, res))
        if not os.path.exists(p):
            problems.append("%s: resource %s does not exist" % (tree.dir, res))
        if os.path.isfile(p):
            used.add(os.path.basename(p))
    for gen in k.get("configMapGenerator", []):
        for entry in gen.get("files", []):
            src = entry.partition("=")[2] or entry
            if not os.path.isfile(os.path.join(tree.dir, src)):
                problems.append("%s: generator file %s does not exist" % (tree.dir, src))
            used.add(os.path.basename(src))
    for patch in k.get("patches", []):
        if "path" in patch:
            if not os.path.isfile(os.path.join(tree.dir, patch["path"])):
                problems.append("%s: patch %s does not exist" % (tree.dir, patch["path"]))
            used.add(os.path.basename(patch["path"]))
    if require_all_listed:
        present = {f for f in os.listdir(tree.dir) if f.endswith((".yaml", ".yml", ".sh", ".conf"))}
        for f in sorted(present - used):
            problems.append("%s: %s is not used by kustomization.yaml" % (tree.dir, f))
    return problems


def check_pod_security(objects):
    problems = []
    for owner, spec in pod_specs(objects):
        sc = spec.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True:
            problems.append("%s: pod securityContext.runAsNonRoot is not true" % owner)
        if not isinstance(sc.get("runAsUser"), int) or sc.get("runAsUser") == 0:
            problems.append("%s: pod securityContext.runAsUser must be a non-zero UID" % owner)
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append("%s: seccompProfile is not RuntimeDefault" % owner)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key):
                problems.append("%s: %s" % (owner, key))
        for v in spec.get("volumes", []):
            if "hostPath" in v:
                problems.append("%s: hostPath volume %s" % (owner, v["name"]))
        volume_names = {v["name"] for v in spec.get("volumes", [])}
        for c in all_containers(spec):
            where = "%s container %s" % (owner, c["name"])
            csc = c.get("securityContext", {})
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(where + ": allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                problems.append(where + ": privileged")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(where + ": readOnlyRootFilesystem is not true")
            caps = csc.get("capabilities") or {}
            if caps.get("drop") != ["ALL"]:
                problems.append(where + ": capabilities.drop is not [ALL]")
            if caps.get("add"):
                problems.append(where + ": adds capabilities %s" % caps["add"])
            if csc.get("runAsUser") == 0:
                problems.append(where + ": runAsUser 0")
            res = c.get("resources") or {}
            if "memory" not in (res.get("requests") or {}) or "memory" not in (res.get("limits") or {}):
                problems.append(where + ": memory request and limit required")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volume_names:
                    problems.append(where + ": mounts undefined volume %s" % m["name"])
    return problems


def check_pin_handling(objects, config_text):
    problems = []
    config = yaml.safe_load(config_text)
    hsm = config.get("hsm") or {}
    if "pin_env" in hsm:
        problems.append("signetd.yaml: hsm.pin_env; the PIN must come from a file")
    pin_file = hsm.get("pin_file", "")
    for owner, spec in pod_specs(objects):
        pin_volumes = {v["name"] for v in spec.get("volumes", []) if (v.get("secret") or {}).get("secretName") == PIN_SECRET}
        if not pin_volumes:
            problems.append("%s: no volume from Secret %s" % (owner, PIN_SECRET))
        for v in spec.get("volumes", []):
            if v["name"] in pin_volumes and v["secret"].get("defaultMode") != 0o400:
                problems.append("%s: PIN Secret volume defaultMode is not 0400" % owner)
        pin_dirs = {v["name"] for v in spec.get("volumes", [])
                    if (v.get("emptyDir") or {}).get("medium") == "Memory"}
        for c in all_containers(spec):
            where = "%s container %s" % (owner, c["name"])
            for e in c.get("env", []):
                if "secretKeyRef" in (e.get("valueFrom") or {}):
                    problems.append(where + ": env %s from a Secret (PINs are files)" % e["name"])
            for e in c.get("envFrom", []):
                if "secretRef" in e:
                    problems.append(where + ": envFrom a Secret (PINs are files)")
            mounts = c.get("volumeMounts", [])
            if any(m["name"] in pin_volumes for m in mounts) and c["name"] != "pin-file":
                problems.append(where + ": mounts the PIN Secret; only the pin-file init container may")
        init = [c for c in spec.get("initContainers", []) if c["name"] == "pin-file"]
        if not init:
            problems.append("%s: no pin-file init container" % owner)
            continue
        cmd = init[0].get("command", [])
        if cmd[:3] != ["install", "-m", "0400"] or not pin_file or cmd[-1] != pin_file:
            problems.append("%s: pin-file must `install -m 0400 ... %s`, got %s" % (owner, pin_file, cmd))
        main = spec["containers"][0]
        ok = [m for m in main.get("volumeMounts", []) if m["name"] in pin_dirs and m.get("readOnly")
              and pin_file.startswith(m["mountPath"].rstrip("/") + "/")]
        if not ok:
            problems.append("%s: %s does not lie in a read-only, memory-backed mount of %s" % (owner, pin_file, main["name"]))
    return problems


def listen_port(value):
    return int(value.rsplit(":", 1)[1])


def duration_seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not m:
        raise ValueError("unsupported duration %r" % text)
    n, unit = int(m.group(1)), m.group(2)
    return {"ms": n / 1000, "s": n, "m": 60 * n, "h": 3600 * n}[unit]


def check_deployment(objects, config_text, min_replicas=3):
    problems = []
    config = yaml.safe_load(config_text)
    deps = [o for o in objects if o.get("kind") == "Deployment"]
    if len(deps) != 1:
        return ["expected exactly one Deployment, got %d" % len(deps)]
    d = deps[0]
    spec = d["spec"]
    if spec.get("replicas", 1) < min_replicas:
        problems.append("Deployment: replicas %s < %d" % (spec.get("replicas"), min_replicas))
    if not labels_match(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]):
        problems.append("Deployment: selector does not match its pod template labels")
    pod = spec["template"]["spec"]
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("Deployment: signetd needs no Kubernetes API token (automountServiceAccountToken: false)")
    c = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    server = config["server"]
    if ports.get("grpc") != listen_port(server["listen"]):
        problems.append("Deployment: port grpc %s != server.listen %s" % (ports.get("grpc"), server["listen"]))
    if ports.get("side") != listen_port(server["http_listen"]):
        problems.append("Deployment: port side %s != server.http_listen %s" % (ports.get("side"), server["http_listen"]))
    want = {"readinessProbe": "/__heartbeat__", "livenessProbe": "/__lbheartbeat__"}
    for probe, path in want.items():
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or get.get("port") != "side" or get.get("scheme") != "HTTPS":
            problems.append("Deployment: %s must be HTTPS GET %s on port side, got %s" % (probe, path, get))
    readiness = c.get("readinessProbe") or {}
    health_timeout = duration_seconds((config.get("hsm") or {}).get("health_timeout", "2s"))
    if readiness.get("timeoutSeconds", 1) <= health_timeout:
        problems.append("Deployment: readinessProbe.timeoutSeconds must exceed hsm.health_timeout")
    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command", [])
    pre_sleep = int(pre[1]) if pre[:1] == ["sleep"] else 0
    drain = duration_seconds(server.get("drain_timeout", "10s"))
    if pod.get("terminationGracePeriodSeconds", 30) <= pre_sleep + drain:
        problems.append("Deployment: terminationGracePeriodSeconds must exceed preStop sleep + drain_timeout")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    paths = [server["tls"]["cert_file"], server["tls"]["key_file"], server["tls"]["client_ca_file"],
             config["hsm"]["pin_file"]]
    if server.get("x5u_dir"):
        paths.append(server["x5u_dir"] + "/")
    for s in config.get("signers", []):
        for key in ("intermediate_cert_file", "root_cert_file", "x5u_ca_file"):
            if key in s:
                paths.append(s[key])
    for p in paths:
        if not any(p.startswith(m.rstrip("/") + "/") for m in mounts):
            problems.append("Deployment: %s is not inside any volume mount of signetd" % p)
    x5u = [m for m in mounts.values() if server.get("x5u_dir", "").startswith(m["mountPath"])]
    if config.get("rotation", {}).get("mode") == "external" and any(not m.get("readOnly") for m in x5u):
        problems.append("Deployment: with external rotation the replicas mount the x5u volume read-only")
    return problems


def check_code_agrees():
    """The probe paths are routes of the side port, and /__heartbeat__ can answer 503."""
    with open(os.path.join(ARGS.repo, "daemon", "http_side.cc")) as f:
        code = f.read()
    problems = []
    # AnswerGet routes by comparing req.path; x5u names are the rest of the path after the prefix.
    routes = {path: 'path == "%s"' % path for path in ("/__heartbeat__", "/__lbheartbeat__", "/metrics")}
    routes["/x5u/"] = 'kX5u = "/x5u/"'
    for path, text in routes.items():
        if text not in code:
            problems.append("daemon/http_side.cc has no route %s" % path)
    if "path.starts_with(kX5u)" not in code:
        problems.append("daemon/http_side.cc has no route /x5u/")
    if "report.ok ? 200 : 503" not in code:
        problems.append("daemon/http_side.cc: /__heartbeat__ no longer answers 503 when not ok")
    return problems


def check_selectors(objects):
    problems = []
    deps = [o for o in objects if o.get("kind") == "Deployment"]
    if not deps:
        return ["no Deployment"]
    pod_labels = deps[0]["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"] for p in deps[0]["spec"]["template"]["spec"]["containers"][0].get("ports", [])}
    pdbs = [o for o in objects if o.get("kind") == "PodDisruptionBudget"]
    if len(pdbs) != 1:
        problems.append("expected one PodDisruptionBudget")
    for p in pdbs:
        if p["spec"]["selector"]["matchLabels"] != deps[0]["spec"]["selector"]["matchLabels"]:
            problems.append("PDB %s: selector differs from the Deployment's" % p["metadata"]["name"])
        mu, ma = p["spec"].get("maxUnavailable"), p["spec"].get("minAvailable")
        if not (mu == 1 or (isinstance(ma, int) and ma >= 2)):
            problems.append("PDB %s: want maxUnavailable 1 or minAvailable >= 2" % p["metadata"]["name"])
    services = [o for o in objects if o.get("kind") == "Service"]
    if not services:
        problems.append("no Service")
    for s in services:
        name = s["metadata"]["name"]
        if not labels_match(s["spec"].get("selector"), pod_labels):
            problems.append("Service %s: selector does not select the signetd pods" % name)
        for p in s["spec"].get("ports", []):
            if p.get("targetPort") not in ports:
                problems.append("Service %s: targetPort %s is not a container port name" % (name, p.get("targetPort")))
    main = [s for s in services if s["metadata"]["name"] == "signetd"]
    if not main or {p["targetPort"] for p in main[0]["spec"]["ports"]} != {"grpc", "side"}:
        problems.append("Service signetd: must expose grpc and side")
    x5u = [s for s in services if s["metadata"]["name"] == "signetd-x5u"]
    if not x5u or x5u[0]["spec"].get("publishNotReadyAddresses") is not True:
        problems.append("Service signetd-x5u: publishNotReadyAddresses must be true (first rotation's read-back)")
    nps = [o for o in objects if o.get("kind") == "NetworkPolicy"]
    server_np = [n for n in nps if labels_match(n["spec"]["podSelector"].get("matchLabels"), pod_labels)]
    if len(server_np) != 1:
        problems.append("expected one NetworkPolicy selecting the signetd pods, got %d" % len(server_np))
    for n in server_np:
        if "Ingress" not in n["spec"].get("policyTypes", []):
            problems.append("NetworkPolicy %s: policyTypes lacks Ingress" % n["metadata"]["name"])
        grpc_rules = 0
        for rule in n["spec"].get("ingress", []):
            if not rule.get("from"):
                problems.append("NetworkPolicy %s: a rule without 'from' admits everyone" % n["metadata"]["name"])
            rule_ports = [p.get("port") for p in rule.get("ports", [])]
            if not rule_ports:
                problems.append("NetworkPolicy %s: a rule without ports" % n["metadata"]["name"])
            for p in rule_ports:
                if p not in ports:
                    problems.append("NetworkPolicy %s: port %s is not a container port name" % (n["metadata"]["name"], p))
            if "grpc" in rule_ports:
                grpc_rules += 1
                for peer in rule.get("from", []):
                    if not (peer.get("namespaceSelector", {}).get("matchLabels") and peer.get("podSelector", {}).get("matchLabels")):
                        problems.append("NetworkPolicy %s: gRPC peers need labelled namespace AND pod" % n["metadata"]["name"])
        if grpc_rules != 1:
            problems.append("NetworkPolicy %s: expected one gRPC rule" % n["metadata"]["name"])
    return problems


def check_rotation(objects, tree, config_text=None):
    problems = []
    cjs = [o for o in objects if o.get("kind") == "CronJob"]
    leases = [o for o in objects if o.get("kind") == "Lease"]
    if len(cjs) != 1 or len(leases) != 1:
        return ["expected one CronJob and one Lease, got %d and %d" % (len(cjs), len(leases))]
    cj, lease = cjs[0], leases[0]
    lease_name = lease["metadata"]["name"]
    lease_seconds = lease["spec"].get("leaseDurationSeconds")
    if cj["spec"].get("concurrencyPolicy") != "Forbid":
        problems.append("CronJob: concurrencyPolicy must be Forbid")
    job = cj["spec"]["jobTemplate"]["spec"]
    if not isinstance(lease_seconds, int) or not isinstance(job.get("activeDeadlineSeconds"), int) \
            or job["activeDeadlineSeconds"] >= lease_seconds:
        problems.append("CronJob: activeDeadlineSeconds must be below the Lease's leaseDurationSeconds")
    pod = job["template"]["spec"]
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append("CronJob: restartPolicy")
    c = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    if env.get("LEASE_NAME") != lease_name:
        problems.append("CronJob: LEASE_NAME %s != Lease %s" % (env.get("LEASE_NAME"), lease_name))
    if env.get("LEASE_DURATION_SECONDS") != str(lease_seconds):
        problems.append("CronJob: LEASE_DURATION_SECONDS != the Lease's leaseDurationSeconds")
    downward = {e["name"]: ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") for e in c.get("env", [])}
    if downward.get("POD_NAME") != "metadata.name" or downward.get("POD_NAMESPACE") != "metadata.namespace":
        problems.append("CronJob: POD_NAME/POD_NAMESPACE must come from the downward API")
    cmd = c.get("command", [])
    def is_script_volume(v):  # kustomize appends a content hash to a generated name
        return re.fullmatch(r"signet-lease-rotate(-[a-z0-9]{10})?", (v.get("configMap") or {}).get("name", "")) is not None

    script_mounts = [m for m in c.get("volumeMounts", [])
                     if any(v["name"] == m["name"] and is_script_volume(v) for v in pod.get("volumes", []))]
    if "signet-lease-rotate" not in tree.generated or "lease-rotate.sh" not in tree.generated["signet-lease-rotate"]:
        problems.append("kustomization: no signet-lease-rotate ConfigMap generated from lease-rotate.sh")
    if not script_mounts or cmd[-1:] != [script_mounts[0]["mountPath"].rstrip("/") + "/lease-rotate.sh"]:
        problems.append("CronJob: must run lease-rotate.sh from the signet-lease-rotate ConfigMap, got %s" % cmd)
    if env.get("SIGNET_CONFIG", "").rsplit("/", 1)[0] not in [m["mountPath"] for m in c.get("volumeMounts", [])]:
        problems.append("CronJob: SIGNET_CONFIG is not in a mounted directory")
    sa = pod.get("serviceAccountName")
    if pod.get("automountServiceAccountToken") is not True:
        problems.append("CronJob: kubectl needs the service account token")
    roles = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Role"}
    bindings = [o for o in objects if o.get("kind") == "RoleBinding"
                and any(s.get("kind") == "ServiceAccount" and s.get("name") == sa for s in o.get("subjects", []))]
    if not bindings:
        problems.append("CronJob: service account %s is bound to no Role" % sa)
    if any(o.get("kind") in ("ClusterRole", "ClusterRoleBinding") for o in objects):
        problems.append("cluster-wide RBAC is not needed")
    for b in bindings:
        ref = b["roleRef"]
        role = roles.get(ref.get("name"))
        if ref.get("kind") != "Role" or role is None:
            problems.append("RoleBinding %s: must reference a Role of this base" % b["metadata"]["name"])
            continue
        for rule in role.get("rules", []):
            if rule.get("apiGroups") != ["coordination.k8s.io"] or rule.get("resources") != ["leases"]:
                problems.append("Role %s: grants more than leases" % role["metadata"]["name"])
            if rule.get("resourceNames") != [lease_name]:
                problems.append("Role %s: must name only the Lease %s" % (role["metadata"]["name"], lease_name))
            if not set(rule.get("verbs", [])) <= {"get", "update"} or not rule.get("verbs"):
                problems.append("Role %s: verbs %s; only get and update" % (role["metadata"]["name"], rule.get("verbs")))
    for s in (o for o in objects if o.get("kind") == "ServiceAccount"):
        if s.get("automountServiceAccountToken") is not False:
            problems.append("ServiceAccount %s: automountServiceAccountToken must default to false" % s["metadata"]["name"])
    deps = [o for o in objects if o.get("kind") == "Deployment"]
    if deps:
        dpod = deps[0]["spec"]["template"]["spec"]
        if dpod.get("serviceAccountName") == sa:
            problems.append("signetd and the rotation job must not share a service account")
    if config_text is not None:
        config = yaml.safe_load(config_text)
        mounts = [m["mountPath"].rstrip("/") + "/" for m in c.get("volumeMounts", [])]
        paths = [config["hsm"]["pin_file"]]
        for s in config.get("signers", []):
            for key in ("intermediate_cert_file", "root_cert_file", "x5u_ca_file", "publication_dir"):
                if key in s:
                    paths.append(s[key].rstrip("/") + ("/" if key == "publication_dir" else ""))
        for p in paths:
            if not any(p.startswith(m) for m in mounts):
                problems.append("CronJob: %s is not inside any volume mount of the rotation container" % p)
    x5u_rw = [m for m in c.get("volumeMounts", []) if m["name"] == "x5u" and not m.get("readOnly")]
    if not x5u_rw:
        problems.append("CronJob: the rotation job must mount the x5u volume read-write")
    return problems


def example_key_paths():
    """Every key path the annotated example documents, list items collapsed to []."""
    with open(os.path.join(ARGS.repo, "ops", "config", "signetd.example.yaml")) as f:
        text = f.read()
    # Keys the example shows commented out are documented too ("    # crl_file: /etc/..."): uncomment
    # such lines one at a time, keeping each that leaves a valid document with one more key.
    lines = text.splitlines()
    paths = set()
    walk_keys(yaml.safe_load(text), "", paths)
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)# ([a-z_0-9]+: \S.*)$", line)
        if not m:
            continue
        trial = lines[:i] + [m.group(1) + m.group(2)] + lines[i + 1:]
        try:
            doc = yaml.safe_load("\n".join(trial))
        except yaml.YAMLError:
            continue
        more = set()
        walk_keys(doc, "", more)
        if len(more) > len(paths) and paths <= more:
            lines, paths = trial, more
    return paths


def walk_keys(node, prefix, out):
    if isinstance(node, dict):
        for k, v in node.items():
            p = prefix + "." + k if prefix else k
            out.add(p)
            walk_keys(v, p, out)
    elif isinstance(node, list):
        for item in node:
            walk_keys(item, prefix + "[]", out)


def check_config_keys(config_text, documented):
    config = yaml.safe_load(config_text)
    problems = []
    used = set()
    walk_keys(config, "", used)
    for p in sorted(used - documented):
        problems.append("signetd.yaml: key %s is not in ops/config/signetd.example.yaml" % p)
    if (config.get("rotation") or {}).get("mode") != "external":
        problems.append("signetd.yaml: rotation.mode must be external (replicas only reload; the CronJob rotates)")
    if "ready_file" in (config.get("server") or {}):
        problems.append("signetd.yaml: ready_file needs a writable path; the probes do its job here")
    return problems


def signetd_check_config(config_text, workdir):
    """Runs the real parser: signetd --check-config, with the TLS files replaced by throwaway ones."""
    cert, key = os.path.join(workdir, "tls.crt"), os.path.join(workdir, "tls.key")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-subj", "/CN=signetd-test", "-days", "1"],
                       check=True, capture_output=True)
    config = yaml.safe_load(config_text)
    tls = config["server"]["tls"]
    text = config_text
    for path, repl in ((tls["cert_file"], cert), (tls["key_file"], key), (tls["client_ca_file"], cert)):
        text = text.replace(path, repl)
    path = os.path.join(workdir, "signetd.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([ARGS.signetd, "--config", path, "--check-config"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return ["signetd --check-config (exit %d): %s%s" % (r.returncode, r.stdout, r.stderr)]
    return []


# ---- tests

class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.k8s = os.path.join(ARGS.repo, "ops", "k8s")
        cls.base = Tree(os.path.join(cls.k8s, "base"))
        cls.overlays = [Tree(os.path.join(cls.k8s, "overlays", d))
                        for d in sorted(os.listdir(os.path.join(cls.k8s, "overlays")))]
        cls.config = cls.base.generated["signetd-config"]["signetd.yaml"]
        cls.tmp = tempfile.mkdtemp(prefix="signet-k8s-test.")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assertNoProblems(self, problems):
        self.assertEqual([], problems, "\n  " + "\n  ".join(problems))

    def test_every_yaml_file_parses(self):
        count = 0
        for dirpath, _, files in os.walk(self.k8s):
            for f in files:
                if f.endswith((".yaml", ".yml")):
                    docs = load_yaml_docs(os.path.join(dirpath, f))
                    self.assertTrue(docs, "%s is empty" % f)
                    for d in docs:
                        self.assertIsInstance(d, dict, f)
                        self.assertIn("apiVersion", d, f) if f != "signetd.yaml" else None
                    count += 1
        self.assertGreaterEqual(count, 10)

    def test_objects_have_known_kinds_and_names(self):
        self.assertNoProblems(check_object_shapes(self.base.objects))
        kinds = {o["kind"] for o in self.base.objects}
        for k in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "CronJob", "Lease", "Role",
                  "RoleBinding", "ServiceAccount", "PersistentVolumeClaim"):
            self.assertIn(k, kinds)
        for t in self.overlays:
            self.assertNoProblems(check_object_shapes(t.objects))

    def test_kustomization_lists_match_files(self):
        self.assertNoProblems(check_kustomization_files(self.base, require_all_listed=True))
        for t in self.overlays:
            self.assertNoProblems(check_kustomization_files(t, require_all_listed=True))

    def test_referenced_config_and_secrets_exist_or_are_documented(self):
        names = {("ConfigMap", n) for n in self.base.generated} | EXTERNAL
        names |= {("PersistentVolumeClaim", o["metadata"]["name"]) for o in self.base.get("PersistentVolumeClaim")}
        for t in self.overlays:
            names |= {("ConfigMap", n) for n in t.generated}
            names |= {("PersistentVolumeClaim", o["metadata"]["name"]) for o in t.get("PersistentVolumeClaim")}
        with open(os.path.join(self.k8s, "base", "kustomization.yaml")) as f:
            doc = f.read()
        for kind, name in EXTERNAL:
            self.assertIn(name, doc, "kustomization.yaml must document the external %s %s" % (kind, name))
        for t in [self.base] + self.overlays:
            for owner, spec in pod_specs(t.objects):
                for v in spec.get("volumes", []):
                    for key, kind, field in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName"),
                                             ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName")):
                        if key in v:
                            self.assertIn((kind, v[key][field]), names, "%s volume %s" % (owner, v["name"]))
            images = {i["name"] for i in self.base.kustomization.get("images", [])}
            for owner, spec in pod_specs(t.objects):
                for c in all_containers(spec):
                    self.assertIn(c["image"], images, "%s %s: image not set by kustomization images" % (owner, c["name"]))

    def test_pod_security(self):
        self.assertNoProblems(check_pod_security(self.base.objects))

    def test_pin_is_a_file_never_env(self):
        self.assertNoProblems(check_pin_handling(self.base.objects, self.config))

    def test_deployment(self):
        self.assertNoProblems(check_deployment(self.base.objects, self.config))
        self.assertNoProblems(check_code_agrees())

    def test_selectors_pdb_services_networkpolicy(self):
        self.assertNoProblems(check_selectors(self.base.objects))

    def test_rotation_cronjob_lease_rbac(self):
        self.assertNoProblems(check_rotation(self.base.objects, self.base, self.config))

    def test_configs_use_documented_keys_and_pass_signetd_check_config(self):
        documented = example_key_paths()
        self.assertIn("signers[].x5u_ca_file", documented)
        self.assertIn("server.tls.crl_file", documented)
        configs = [("base", self.config)]
        for t in self.overlays:
            if "signetd-config" in t.generated:
                configs.append((t.dir, t.generated["signetd-config"]["signetd.yaml"]))
        for i, (where, text) in enumerate(configs):
            with self.subTest(config=where):
                self.assertNoProblems(check_config_keys(text, documented))
                work = os.path.join(self.tmp, "check-%d" % i)
                os.makedirs(work)
                self.assertNoProblems(signetd_check_config(text, work))

    def test_kubectl_kustomize_renders(self):
        kubectl = ARGS.kubectl or shutil.which("kubectl")
        if not kubectl:
            self.skipTest("kubectl not installed (optional): rendering not checked")
        for d in [self.base.dir] + [t.dir for t in self.overlays]:
            with self.subTest(dir=d):
                r = subprocess.run([kubectl, "kustomize", d], capture_output=True, text=True, timeout=60)
                self.assertEqual(0, r.returncode, r.stderr)
                rendered = [o for o in yaml.safe_load_all(r.stdout) if o]
                self.assertNoProblems(check_pod_security(rendered))
                self.assertNoProblems(check_selectors(rendered))
                generated = {o["metadata"]["name"] for o in rendered if o["kind"] == "ConfigMap"}
                for owner, spec in pod_specs(rendered):
                    for v in spec.get("volumes", []):
                        name = (v.get("configMap") or {}).get("name")
                        if name and ("ConfigMap", name) not in EXTERNAL:
                            self.assertIn(name, generated, "%s: ConfigMap %s not rendered" % (owner, name))
                cfg = [o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("signetd-config-")]
                self.assertEqual(1, len(cfg))
                self.assertNoProblems(check_pin_handling(rendered, cfg[0]["data"]["signetd.yaml"]))
                if d == self.base.dir:
                    self.assertNoProblems(check_deployment(rendered, cfg[0]["data"]["signetd.yaml"]))
                    self.assertNoProblems(check_rotation(rendered, self.base, cfg[0]["data"]["signetd.yaml"]))
                else:
                    self.assertNoProblems(check_deployment(rendered, cfg[0]["data"]["signetd.yaml"], min_replicas=1))
                    self.assertNoProblems(check_rotation(rendered, self.base, cfg[0]["data"]["signetd.yaml"]))
                    for o in rendered:
                        self.assertTrue(o["metadata"].get("namespace") or o["kind"] in ("ClusterRole",),
                                        "%s/%s has no namespace" % (o["kind"], o["metadata"]["name"]))

    def test_checks_fail_on_broken_copies(self):
        """Each check must be able to fail: break one thing in a copy, expect a complaint."""
        objs = self.base.objects

        def broken(mutate, check):
            copy_ = copy.deepcopy(objs)
            mutate(copy_)
            return check(copy_)

        def dep(o):
            return next(x for x in o if x["kind"] == "Deployment")

        def cj(o):
            return next(x for x in o if x["kind"] == "CronJob")

        def dep_c(o):
            return dep(o)["spec"]["template"]["spec"]["containers"][0]

        cases = {
            "privileged container": (lambda o: dep_c(o)["securityContext"].update(privileged=True), check_pod_security),
            "writable root fs": (lambda o: dep_c(o)["securityContext"].update(readOnlyRootFilesystem=False), check_pod_security),
            "root user": (lambda o: dep(o)["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False), check_pod_security),
            "capability added": (lambda o: dep_c(o)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]), check_pod_security),
            "hostPath": (lambda o: dep(o)["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), check_pod_security),
            "2 replicas": (lambda o: dep(o)["spec"].update(replicas=2), lambda o: check_deployment(o, self.config)),
            "no readiness": (lambda o: dep_c(o).pop("readinessProbe"), lambda o: check_deployment(o, self.config)),
            "readiness on lbheartbeat": (lambda o: dep_c(o)["readinessProbe"]["httpGet"].update(path="/__lbheartbeat__"),
                                         lambda o: check_deployment(o, self.config)),
            "PIN in env": (lambda o: dep_c(o).setdefault("env", []).append(
                {"name": "SIGNETD_HSM_PIN", "valueFrom": {"secretKeyRef": {"name": PIN_SECRET, "key": "pin"}}}),
                lambda o: check_pin_handling(o, self.config)),
            "PIN Secret in main container": (lambda o: dep_c(o)["volumeMounts"].append(
                {"name": "hsm-pin-secret", "mountPath": "/pin"}), lambda o: check_pin_handling(o, self.config)),
            "PIN mode 0440": (lambda o: next(v for v in dep(o)["spec"]["template"]["spec"]["volumes"]
                                             if v["name"] == "hsm-pin-secret")["secret"].update(defaultMode=0o440),
                              lambda o: check_pin_handling(o, self.config)),
            "PDB selects nothing": (lambda o: next(x for x in o if x["kind"] == "PodDisruptionBudget")["spec"]["selector"]
                                    ["matchLabels"].update({"app.kubernetes.io/name": "other"}), check_selectors),
            "Service selects nothing": (lambda o: next(x for x in o if x["kind"] == "Service")["spec"]["selector"]
                                        .update({"app.kubernetes.io/component": "x"}), check_selectors),
            "NetworkPolicy open": (lambda o: next(x for x in o if x["kind"] == "NetworkPolicy")["spec"]["ingress"]
                                   .append({"ports": [{"port": "grpc"}]}), check_selectors),
            "gRPC from any pod": (lambda o: next(x for x in o if x["kind"] == "NetworkPolicy")["spec"]["ingress"][0]
                                  ["from"][0].pop("podSelector"), check_selectors),
            "concurrency Allow": (lambda o: cj(o)["spec"].update(concurrencyPolicy="Allow"), lambda o: check_rotation(o, self.base)),
            "deadline past the lease": (lambda o: cj(o)["spec"]["jobTemplate"]["spec"].update(activeDeadlineSeconds=900),
                                        lambda o: check_rotation(o, self.base)),
            "Role may create": (lambda o: next(x for x in o if x["kind"] == "Role")["rules"][0]["verbs"].append("create"),
                                lambda o: check_rotation(o, self.base)),
            "Role for any lease": (lambda o: next(x for x in o if x["kind"] == "Role")["rules"][0].pop("resourceNames"),
                                   lambda o: check_rotation(o, self.base)),
            "wrong lease name": (lambda o: next(x for x in o if x["kind"] == "Lease")["metadata"].update(name="other"),
                                 lambda o: check_rotation(o, self.base)),
            "duplicate object": (lambda o: o.append(copy.deepcopy(dep(o))), check_object_shapes),
            "unknown kind": (lambda o: o.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}), check_object_shapes),
        }
        for name, (mutate, check) in cases.items():
            with self.subTest(broken=name):
                self.assertTrue(broken(mutate, check), "check passed a copy with: " + name)
        documented = example_key_paths()
        self.assertTrue(check_config_keys(self.config.replace("  health_timeout: 2s", "  health_timeout: 2s\n  pin_retry: 3"), documented))
        self.assertTrue(check_config_keys(self.config.replace("mode: external", "mode: internal"), documented))
        work = os.path.join(self.tmp, "broken")
        os.makedirs(work)
        self.assertTrue(signetd_check_config(self.config.replace("drain_timeout: 10s", "drain_timeout: 11m"), work))


# ---- lease-rotate.sh against a fake kubectl

def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseRotate(unittest.TestCase):
    NS = "signet"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="signet-lease-test.")
        self.state = os.path.join(self.tmp, "state.json")
        self.calls = os.path.join(self.tmp, "signet.calls")
        self.fake_signet = os.path.join(self.tmp, "signet")
        # Records its arguments and who held the Lease while it ran; detects overlapping runs.
        with open(self.fake_signet, "w") as f:
            f.write("""#!/bin/bash
set -u
if ! mkdir "%(tmp)s/running" 2>/dev/null; then echo OVERLAP >> "%(calls)s"; fi
holder="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["leases"]["%(ns)s/signet-rotate"]["spec"].get("holderIdentity",""))' "%(state)s")"
echo "$POD_NAME holder=$holder args=$*" >> "%(calls)s"
sleep "${FAKE_SIGNET_SLEEP:-0}"
rmdir "%(tmp)s/running"
exit "${FAKE_SIGNET_RC:-0}"
""" % {"tmp": self.tmp, "calls": self.calls, "state": self.state, "ns": self.NS})
        os.chmod(self.fake_signet, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def lease(self, holder=None, renewed_ago=None, duration=600, rv="7"):
        spec = {"leaseDurationSeconds": duration}
        if holder is not None:
            spec["holderIdentity"] = holder
        if renewed_ago is not None:
            spec["renewTime"] = rfc3339(datetime.datetime.utcnow() - datetime.timedelta(seconds=renewed_ago))
        state = {"leases": {self.NS + "/signet-rotate": {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "signet-rotate", "namespace": self.NS, "resourceVersion": rv}, "spec": spec}}}
        with open(self.state, "w") as f:
            json.dump(state, f)

    def current(self):
        with open(self.state) as f:
            return json.load(f)["leases"].get(self.NS + "/signet-rotate")

    def run_script(self, pod="rotate-abc12", extra_env=None, args=(), background=False):
        env = {"PATH": "/usr/bin:/bin", "KUBECTL": os.path.join(HERE, "fake_kubectl.py"), "SIGNET": self.fake_signet,
               "FAKE_KUBECTL_STATE": self.state, "FAKE_KUBECTL_LOG": os.path.join(self.tmp, "kubectl.log"),
               "POD_NAME": pod, "POD_NAMESPACE": self.NS, "LEASE_NAME": "signet-rotate",
               "LEASE_DURATION_SECONDS": "600", "SIGNET_CONFIG": "/etc/signetd/config/signetd.yaml",
               "TMPDIR": self.tmp}
        env.update(extra_env or {})
        cmd = ["bash", os.path.join(ARGS.repo, "ops", "k8s", "base", "lease-rotate.sh")] + list(args)
        if background:
            return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    def signet_calls(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().splitlines()

    def test_absent_lease_is_created_rotated_and_released(self):
        r = self.run_script()
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual(["rotate-abc12 holder=rotate-abc12 args=rotate --config /etc/signetd/config/signetd.yaml"],
                         self.signet_calls())
        self.assertNotIn("holderIdentity", self.current()["spec"], "released after the rotation")
        self.assertIn("created lease", r.stderr)

    def test_fresh_lease_of_another_holder_is_respected(self):
        self.lease(holder="rotate-other", renewed_ago=30)
        r = self.run_script()
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual([], self.signet_calls())
        self.assertEqual("rotate-other", self.current()["spec"]["holderIdentity"])
        self.assertEqual("7", self.current()["metadata"]["resourceVersion"], "the Lease was not written")
        self.assertIn("is held by rotate-other", r.stderr)

    def test_expired_lease_is_taken_over(self):
        self.lease(holder="rotate-dead", renewed_ago=601)
        r = self.run_script(args=["--signer", "remote-settings"])
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual(["rotate-abc12 holder=rotate-abc12 args=rotate --config /etc/signetd/config/signetd.yaml "
                          "--signer remote-settings"], self.signet_calls())
        self.assertIn("took lease", r.stderr)
        self.assertNotIn("holderIdentity", self.current()["spec"])

    def test_lease_duration_is_the_leases_own(self):
        self.lease(holder="rotate-other", renewed_ago=700, duration=900)
        r = self.run_script()
        self.assertEqual([], self.signet_calls(), r.stderr)

    def test_released_lease_and_own_lease_are_taken(self):
        self.lease(holder="", renewed_ago=5)
        self.assertEqual(0, self.run_script().returncode)
        self.lease(holder="rotate-abc12", renewed_ago=5)  # this pod's container restarted
        self.assertEqual(0, self.run_script().returncode)
        self.assertEqual(2, len(self.signet_calls()))

    def test_conflict_on_replace_loses(self):
        self.lease(holder="rotate-dead", renewed_ago=3600)
        r = self.run_script(extra_env={"FAKE_KUBECTL_RACE": "replace"})
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual([], self.signet_calls())
        self.assertEqual("racer", self.current()["spec"]["holderIdentity"])
        self.assertIn("lost lease", r.stderr)

    def test_already_exists_on_create_loses(self):
        r = self.run_script(extra_env={"FAKE_KUBECTL_RACE": "create"})
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertEqual([], self.signet_calls())
        self.assertEqual("racer", self.current()["spec"]["holderIdentity"])

    def test_failed_rotation_is_reported_and_the_lease_released(self):
        r = self.run_script(extra_env={"FAKE_SIGNET_RC": "1"})
        self.assertEqual(1, r.returncode, r.stderr)
        self.assertEqual(1, len(self.signet_calls()))
        self.assertNotIn("holderIdentity", self.current()["spec"])

    def test_api_errors_fail_without_rotating(self):
        for verb in ("get", "create"):
            with self.subTest(verb=verb):
                if os.path.exists(self.state):
                    os.remove(self.state)
                r = self.run_script(extra_env={"FAKE_KUBECTL_FAIL": verb})
                self.assertNotEqual(0, r.returncode)
                self.assertIn("Forbidden", r.stderr)
        self.lease(holder="rotate-dead", renewed_ago=3600)
        r = self.run_script(extra_env={"FAKE_KUBECTL_FAIL": "replace"})
        self.assertNotEqual(0, r.returncode)
        self.assertEqual([], self.signet_calls())

    def test_bad_identity_is_refused(self):
        r = self.run_script(pod='x","holderIdentity":"evil')
        self.assertNotEqual(0, r.returncode)
        self.assertEqual([], self.signet_calls())

    def test_concurrent_runs_never_overlap(self):
        procs = [self.run_script(pod="rotate-%d" % i, extra_env={"FAKE_SIGNET_SLEEP": "0.3"}, background=True)
                 for i in range(6)]
        for p in procs:
            p.communicate(timeout=60)
            self.assertEqual(0, p.returncode)
        calls = self.signet_calls()
        self.assertNotIn("OVERLAP", calls)
        self.assertGreaterEqual(len(calls), 1)
        for line in calls:
            pod, holder = line.split()[0], line.split()[1]
            self.assertEqual("holder=" + pod, holder, "signet ran without holding the Lease: " + line)

    def test_script_never_touches_a_pin(self):
        with open(os.path.join(ARGS.repo, "ops", "k8s", "base", "lease-rotate.sh")) as f:
            code = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
        self.assertNotRegex(code, r"(?i)pin")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=os.path.normpath(os.path.join(HERE, "..", "..")))
    parser.add_argument("--signetd", default=os.environ.get("SIGNETD") or shutil.which("signetd"),
                        help="the signetd binary for --check-config (required)")
    parser.add_argument("--kubectl", default=None, help="optional: render with `kubectl kustomize`")
    ARGS, rest = parser.parse_known_args()
    if not ARGS.signetd or not os.access(ARGS.signetd, os.X_OK):
        sys.stderr.write("k8s_manifests_test: give the signetd binary with --signetd PATH (or $SIGNETD)\n")
        return 2
    return 0 if unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2).result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
