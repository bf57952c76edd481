#!/usr/bin/python3
"""A stand-in for kubectl that knows one thing: Lease objects, kept in a JSON file.

Just enough of kubectl and the API server for ops/k8s/base/lease-rotate.sh:
  kubectl -n NS get lease NAME -o 'jsonpath=...'   (NotFound when absent)
  kubectl -n NS create -f -                         (AlreadyExists when present)
  kubectl -n NS replace -f -                        (Conflict unless metadata.resourceVersion matches)
Every operation holds an exclusive flock on the state file, so concurrent callers see the
API server's compare-and-swap semantics. The messages mimic kubectl's.

Environment:
  FAKE_KUBECTL_STATE   JSON file holding {"leases": {"NS/NAME": object}} (required)
  FAKE_KUBECTL_LOG     every invocation is appended here (optional)
  FAKE_KUBECTL_FAIL    "get" / "create" / "replace": that verb fails with Forbidden
  FAKE_KUBECTL_RACE    "create": another holder creates the Lease just before ours;
                       "replace": another holder replaces it just before ours
"""
import fcntl
import json
import os
import re
import sys


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def jsonpath(obj, template):
    out = []
    for literal, path in re.findall(r'\{"([^"]*)"\}|\{\.([A-Za-z0-9_.]+)\}', template):
        if path:
            v = obj
            for part in path.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            out.append("" if v is None else str(v))
        else:
            out.append(literal)
    return "".join(out)


def main(argv):
    args = list(argv)
    ns = "default"
    if len(args) >= 2 and args[0] in ("-n", "--namespace"):
        ns = args[1]
        args = args[2:]
    state_path = os.environ["FAKE_KUBECTL_STATE"]
    if os.environ.get("FAKE_KUBECTL_LOG"):
        with open(os.environ["FAKE_KUBECTL_LOG"], "a") as f:
            f.write(" ".join(["-n", ns] + args) + "\n")
    verb = args[0] if args else ""
    if os.environ.get("FAKE_KUBECTL_FAIL") == verb:
        fail('Error from server (Forbidden): leases.coordination.k8s.io is forbidden: User '
             '"system:serviceaccount:%s:signet-rotate" cannot %s resource "leases"' % (ns, verb))
    with open(state_path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        state = json.loads(text) if text.strip() else {"leases": {}}
        leases = state.setdefault("leases", {})
        changed = False
        race = os.environ.get("FAKE_KUBECTL_RACE")

        if verb == "get":
            if args[1:2] != ["lease"] or len(args) < 3:
                fail("fake kubectl: only 'get lease NAME' is supported: %r" % args)
            name = args[2]
            out = [a[len("jsonpath="):] for a in args if a.startswith("jsonpath=")]
            if "-o" in args:
                o = args[args.index("-o") + 1]
                out = [o[len("jsonpath="):]] if o.startswith("jsonpath=") else out
            obj = leases.get(ns + "/" + name)
            if obj is None:
                fail('Error from server (NotFound): leases.coordination.k8s.io "%s" not found' % name)
            sys.stdout.write(jsonpath(obj, out[0]) if out else json.dumps(obj))
        elif verb in ("create", "replace"):
            if args[1:3] != ["-f", "-"]:
                fail("fake kubectl: only '%s -f -' is supported: %r" % (verb, args))
            obj = json.loads(sys.stdin.read())  # invalid JSON fails the test loudly
            if obj.get("apiVersion") != "coordination.k8s.io/v1" or obj.get("kind") != "Lease":
                fail("fake kubectl: not a coordination.k8s.io/v1 Lease: %r" % obj)
            meta = obj.get("metadata", {})
            if meta.get("namespace", ns) != ns:
                fail("fake kubectl: namespace mismatch")
            key = ns + "/" + meta["name"]
            other = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": meta["name"], "namespace": ns},
                     "spec": {"holderIdentity": "racer", "leaseDurationSeconds": 600,
                              "renewTime": "2999-01-01T00:00:00.000000Z"}}
            if verb == "create":
                if race == "create" and key not in leases:
                    other["metadata"]["resourceVersion"] = "1"
                    leases[key] = other
                    changed = True
                if key in leases:
                    if changed:
                        f.seek(0); f.truncate(); f.write(json.dumps(state))
                    fail('Error from server (AlreadyExists): error when creating "STDIN": '
                         'leases.coordination.k8s.io "%s" already exists' % meta["name"])
                if "resourceVersion" in meta:
                    fail("fake kubectl: create must not carry a resourceVersion")
                meta["resourceVersion"] = "1"
                leases[key] = obj
                changed = True
            else:
                cur = leases.get(key)
                if cur is None:
                    fail('Error from server (NotFound): error when replacing "STDIN": '
                         'leases.coordination.k8s.io "%s" not found' % meta["name"])
                if "resourceVersion" not in meta:
                    fail("fake kubectl: replace without metadata.resourceVersion is unguarded")
                if race == "replace":
                    other["metadata"]["resourceVersion"] = str(int(cur["metadata"]["resourceVersion"]) + 1)
                    leases[key] = cur = other
                    f.seek(0); f.truncate(); f.write(json.dumps(state))
                if meta["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                    fail('Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
                         'fulfilled on leases.coordination.k8s.io "%s": the object has been modified; please '
                         'apply your changes to the latest version and try again' % meta["name"])
                meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
                leases[key] = obj
                changed = True
            sys.stdout.write('lease.coordination.k8s.io/%s %sd\n' % (meta["name"], verb))
        else:
            fail("fake kubectl: unsupported command %r" % args)
        if changed:
            f.seek(0)
            f.truncate()
            f.write(json.dumps(state))


if __name__ == "__main__":
    main(sys.argv[1:])
