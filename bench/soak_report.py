#!/usr/bin/env python3
"""The soak's summary and verdict, from what ops/soak.sh left in its directory.

usage: soak_report.py DIR SIGNER BACKGROUND_SIGNER

Reads facts.env (the script's own measurements and checks), peak-<n>.json, load-<signer>-<n>.json
and baseline-<signer>-<n>.json (signet-bench, one per client process, for the load and the baseline
load before it; the background signer's are load-<signer>.json and baseline-<signer>.json),
metrics-before-baseline.txt, metrics-before-load.txt and metrics-after-load.txt (signetd's /metrics
around the two) and rss.csv (the 5-second samples). Prints the summary, writes summary.json and summary.txt,
and exits 1 when a check failed.
"""
import csv
import json
import math
import re
import statistics
import sys

METRIC_LINE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def read_facts(path):
    facts = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            facts[k] = v
    return facts


def read_json_line(path):
    """signet-bench prints one JSON object; an empty dict when it printed none (it failed)."""
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else {}
    except OSError:
        return {}


def read_metrics(path):
    """[(name, {labels}, value)] of a Prometheus text exposition."""
    out = []
    try:
        text = open(path).read()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = METRIC_LINE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), value))
    return out


def combine(runs):
    """One report from several signet-bench clients' reports: counts summed, errors and keys merged,
    latencies and lags the worst client's."""
    runs = [r for r in runs if r]
    if not runs:
        return {}
    out = dict(runs[0])
    for k in ("calls", "calls_ok", "signatures", "verified", "calls_per_s", "sigs_per_s", "rate", "concurrency",
              "cpu_s", "not_started"):
        out[k] = sum(r.get(k, 0) for r in runs)
    for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "start_lag_p50_ms", "start_lag_p99_ms"):
        out[k] = max(r.get(k, 0) for r in runs)
    out["errors"] = {}
    keys = {}
    for r in runs:
        for code, n in r.get("errors", {}).items():
            out["errors"][code] = out["errors"].get(code, 0) + n
        for k in r.get("keys", []):
            if k["key_id"] in keys:
                keys[k["key_id"]]["signatures"] += k["signatures"]
            else:
                keys[k["key_id"]] = dict(k)
    out["keys"] = list(keys.values())
    out["verify_error"] = next((r["verify_error"] for r in runs if r.get("verify_error")), "")
    out["clients"] = len(runs)
    return out


def metric_sum(metrics, name, **labels):
    return sum(v for n, ls, v in metrics if n == name and all(ls.get(k) == w for k, w in labels.items()))


def by_code(metrics, method):
    return {ls.get("code"): v for n, ls, v in metrics if n == "signet_requests_total" and ls.get("method") == method}


def histogram_quantiles(before, after, name, qs, **labels):
    """Upper bucket bounds (seconds) holding each quantile of a histogram's increase between scrapes."""
    buckets = {}
    for metrics, sign in ((after, 1), (before, -1)):
        for n, ls, v in metrics:
            if n == name + "_bucket" and all(ls.get(k) == w for k, w in labels.items()):
                buckets[float(ls["le"])] = buckets.get(float(ls["le"]), 0) + sign * v
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0)
    if not total:
        return [None for _ in qs]
    return [next((b for b in bounds if buckets[b] >= q * total), math.inf) for q in qs]


def rss_window_medians(samples, t0_ms, t1_ms, single_start, single_end):
    """Medians of the load-phase RSS samples (KiB) in the first and last fifth of [t0_ms, t1_ms], and
    those samples; a fifth without samples falls back to the single sample taken at its end."""
    fifth = (t1_ms - t0_ms) / 5
    judged = [(int(s["unix_ms"]), int(s["rss_kib"])) for s in samples if s["phase"] == "load"]
    first = [kib for t, kib in judged if t0_ms <= t <= t0_ms + fifth]
    last = [kib for t, kib in judged if t1_ms - fifth <= t <= t1_ms]
    start = statistics.median(first) if first else single_start
    end = statistics.median(last) if last else single_end
    return start, end, first, last


def rss_parts_change(start, end):
    """'anon +X, file +Y, shmem +Z KiB' from two 'anon/file/shmem' readings in KiB (soak.sh's rss_parts);
    where the quiet growth went: the heap, or pages of the binary and its libraries read in."""
    try:
        a = [int(x) for x in start.split("/")]
        b = [int(x) for x in end.split("/")]
    except (AttributeError, ValueError):
        return "parts not read"
    if len(a) != 3 or len(b) != 3:
        return "parts not read"
    return ", ".join(f"{name} {y - x:+d} KiB" for name, x, y in zip(("anon", "file", "shmem"), a, b))


def read_anon_mappings(smaps_path, threads_path):
    """{start address: (label, anonymous KiB)} from a /proc/<pid>/smaps copy; label is "heap", "stack
    of <thread name>" (a thread whose stack pointer, from the .threads file, lies in the mapping),
    "anonymous" (malloc's arenas and other anonymous mappings) or "file" (private pages of a file)."""
    threads = []
    try:
        for line in open(threads_path):
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("0x"):
                threads.append((parts[0], int(parts[1], 16)))
    except OSError:
        pass
    out, cur = {}, None
    try:
        lines = open(smaps_path).read().splitlines()
    except OSError:
        return None
    for line in lines:
        head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
        if head:
            lo, hi, name = int(head.group(1), 16), int(head.group(2), 16), head.group(3)
            if name == "[heap]":
                label = "heap"
            elif name.startswith("["):
                label = "stack of the main thread" if name == "[stack]" else name
            elif name:
                label = "file"
            else:
                owners = [t for t, sp in threads if lo <= sp < hi]
                label = f"stack of {owners[0]}" if owners else "anonymous"
            cur = head.group(1)
            out[cur] = (label, 0)
        elif line.startswith("Anonymous:") and cur is not None:
            out[cur] = (out[cur][0], int(line.split()[1]))
    return out


def anon_growth_by_kind(start, end):
    """Where anonymous memory grew between two read_anon_mappings() results (mappings keyed by start
    address: an arena that grew keeps its start), summed by label and sorted by size:
    [(label, mappings, KiB)] for changes of at least 4 KiB."""
    if start is None or end is None:
        return []
    sums = {}
    for addr in set(start) | set(end):
        label, before = start.get(addr, (None, 0))
        label_end, after = end.get(addr, (None, 0))
        label = label_end or label
        if after != before:
            n, kib = sums.get(label, (0, 0))
            sums[label] = (n + 1, kib + after - before)
    return sorted(((label, n, kib) for label, (n, kib) in sums.items() if abs(kib) >= 4),
                  key=lambda x: -abs(x[2]))


def rss_failures(quiet_start, quiet_end, limit_pct, ceiling_mib, end_under_load):
    """The RSS verdict (KiB in, messages out): growth between the two quiet readings (signetd idle, a
    malloc_trim done) against limit_pct (None: not judged), and RSS at the end of the load against
    ceiling_mib (None: none). Returns (growth in %, or nan; failures)."""
    failures = []
    growth = (quiet_end / quiet_start - 1) * 100 if quiet_start and quiet_end else float("nan")
    if limit_pct is not None:
        if math.isnan(growth):
            failures.append("no quiet RSS reading before and after the load")
        elif not growth < limit_pct:
            failures.append(f"RSS grew {growth:.1f}% between the quiet readings before and after the load "
                            f"(limit {limit_pct:g}%)")
    if ceiling_mib is not None and end_under_load / 1024 >= ceiling_mib:
        failures.append(f"RSS at the end of the load is {end_under_load / 1024:.1f} MiB (ceiling {ceiling_mib:g} MiB)")
    return growth, failures


def unsustained(named_runs, limit=0.01):
    """Failures for the open-loop runs (name, report) whose pacer, held back by --max-in-flight, never
    started more than `limit` of the calls it scheduled."""
    out = []
    for name, run in named_runs:
        scheduled = run.get("calls", 0) + run.get("not_started", 0)
        if run.get("not_started", 0) > limit * scheduled:
            out.append(f"{name}: {run['not_started']} of {scheduled} scheduled calls never started (the pacer "
                       f"waited for answers to at most {run.get('max_in_flight')} calls in flight): the load "
                       f"was not sustained")
    return out


def cpu_summary(f, main_run, bg_run, signatures, calls):
    """CPU over the load, from /proc (signetd, the machine) and getrusage (each signet-bench): how much of
    the two cores signetd and its load generators took, per call. None when the soak did not record it."""
    try:
        hz = float(f["clk_tck"])
        signetd_s = float(f["signetd_cpu_ticks_load"]) / hz
        busy, total = float(f["machine_busy_ticks_load"]), float(f["machine_total_ticks_load"])
    except (KeyError, ValueError, ZeroDivisionError):
        return None
    clients_s = main_run.get("cpu_s", 0) + bg_run.get("cpu_s", 0)
    per_call = lambda s: f"{s / calls * 1e6:.0f} us/call" if calls else "-"  # noqa: E731
    return (f"CPU over the load: signetd {signetd_s:.1f} core-s ({per_call(signetd_s)}), load generators "
            f"{clients_s:.1f} core-s ({per_call(clients_s)}), for {calls} calls and {signatures:.0f} signatures; "
            f"the machine was {busy / total * 100 if total else 0:.0f}% busy (all cores)")


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    d, signer, bg_signer = argv[1:]
    f = read_facts(f"{d}/facts.env")
    num = lambda k, default=0.0: float(f.get(k) or default)  # noqa: E731
    clients = int(f.get("clients") or 1)
    peak = combine([read_json_line(f"{d}/peak-{c}.json") for c in range(1, clients + 1)])
    main_runs = [read_json_line(f"{d}/load-{signer}-{c}.json") for c in range(1, clients + 1)]
    main_run = combine(main_runs)
    bg_run = read_json_line(f"{d}/load-{bg_signer}.json")
    baseline_s = int(num("baseline_load_s"))
    baseline_runs = []  # the baseline load's clients: name, run (report), rc (exit code), signer
    if baseline_s:
        rcs = (f.get("baseline_rcs") or "").split()
        clients_of = [(f"{signer}-{c}", f"{signer} client {c}", signer) for c in range(1, clients + 1)]
        for i, (file_part, name, who) in enumerate(clients_of + [(bg_signer, bg_signer, bg_signer)]):
            run = read_json_line(f"{d}/baseline-{file_part}.json")
            baseline_runs.append({"name": f"baseline load, {name}", "run": run,
                                  "rc": rcs[i] if i < len(rcs) else "?", "signer": who})
    before = read_metrics(f"{d}/metrics-before-load.txt")
    after = read_metrics(f"{d}/metrics-after-load.txt")
    # signetd's non-OK answers count from before the baseline load, when there is one.
    before_all = read_metrics(f"{d}/metrics-before-baseline.txt") if baseline_s else before
    delta = lambda name, **l: metric_sum(after, name, **l) - metric_sum(before, name, **l)  # noqa: E731
    samples = []
    try:
        samples = list(csv.DictReader(open(f"{d}/rss.csv")))
    except OSError:
        pass

    failures = []
    load_s = num("load_s")
    wall_s = max(0.001, (num("load_end_ms") - num("load_t0_ms")) / 1000)

    # Rates: the target, what the pacer started, and what signetd served (its own counters, over the
    # wall time from the load's start to the end of the last answer).
    rate = num("rate")
    served_sigs = delta("signet_signatures_total", signer=signer)
    served_bg = delta("signet_signatures_total", signer=bg_signer)
    served_rate = served_sigs / wall_s  # one item per call on the main stream: signatures = calls

    # Errors: signet-bench's by code (calls and items), and signetd's own count of non-OK answers.
    errors = {}
    for name, run in [(signer, main_run), (bg_signer, bg_run)] + [(f"baseline {b['signer']}", b["run"]) for b in baseline_runs]:
        for code, n in run.get("errors", {}).items():
            errors[f"{name}:{code}"] = errors.get(f"{name}:{code}", 0) + n
    server_errors = {}
    for method in ("Sign", "SignHash", "GetSigner"):
        b, a = by_code(before_all, method), by_code(after, method)
        for code, v in a.items():
            n = v - b.get(code, 0)
            if code != "OK" and n > 0:
                server_errors[f"{method}:{code}"] = int(n)
    if f.get("baseline_stuck") == "1":
        failures.append("the baseline load's clients still waited for answers 45 s after its end (stopped)")
    if f.get("generator_stuck") == "1":
        failures.append("the load clients still waited for answers 45 s after the load's end (stopped; "
                        "their reports are lost): signetd fell behind the offered load")
    total_errors = sum(errors.values())
    if total_errors:
        failures.append(f"{total_errors} calls or items failed: {errors}")
    if server_errors:
        failures.append(f"signetd answered with errors: {server_errors}")
    rcs = (f.get("main_rcs") or "").split()
    runs = [(f"{signer} client {c + 1}", main_runs[c], rcs[c] if c < len(rcs) else "?") for c in range(clients)]
    for name, run, rc in runs + [(bg_signer, bg_run, f.get("bg_rc"))] + [(b["name"], b["run"], b["rc"]) for b in baseline_runs]:
        if rc != "0" or not run:
            why = (run.get("verify_error") or "no verify error reported") if run else "no report"
            failures.append(f"signet-bench on {name} exited {rc}: {why}")
            if not run:
                continue
        if run["verified"] < run["signatures"]:
            failures.append(f"{name}: {run['verified']} of {run['signatures']} signatures verified")
        if run["calls_ok"] != run["calls"]:
            failures.append(f"{name}: {run['calls_ok']} of {run['calls']} calls ok")

    # The load must be the load: calls its schedule held back (each client keeps at most 256 in flight,
    # signetd's stream limit per connection, and past that its pacer waits) and never started by the
    # end mean the machine did not give the offered rate for long enough to catch up.
    failures += unsustained([(signer, main_run), (bg_signer, bg_run)] + [(b["name"], b["run"]) for b in baseline_runs])

    # Rotations under load: the signer's key changes as signetd counted them.
    rotations = int(delta("signet_signer_key_changes_total", signer=signer))
    rotations_failed = int(delta("signet_rotations_total", signer=signer, result="failed"))
    expected = int(num("expected_rotations", 1))
    keys = main_run.get("keys", [])
    if rotations < expected:
        failures.append(f"{rotations} rotations under load, expected at least {expected}")
    if rotations_failed:
        failures.append(f"{rotations_failed} rotation checks failed inside signetd")
    if int(num("rotate_failures")):
        failures.append(f"{int(num('rotate_failures'))} `signet rotate` runs failed")
    # Each key switched to under load signs calls (at the load's rates, within milliseconds), so at least
    # as many keys signed as there were switches (one more with the key the load began on).
    if main_run and len(keys) < rotations:
        failures.append(f"only {len(keys)} keys signed, for {rotations} key changes")
    if int(num("chains_bad")):
        failures.append(f"{int(num('chains_bad'))} used keys' x5u chains do not hold their key")
    if main_run and int(num("chains_ok")) != len(keys):
        failures.append(f"{int(num('chains_ok'))} of {len(keys)} used keys' chains checked")
    if f.get("firefox_verify_ok") != "1":
        failures.append("the final signature did not verify like Firefox (signet verify --x5u)")

    # Health of the process.
    for name, want in (("signet_hsm_up", 1),):
        got = metric_sum(after, name)
        if got != want:
            failures.append(f"{name} is {got:g} after the load")
    for name in ("signet_signature_check_failures_total", "signet_hsm_call_timeouts_total",
                 "signet_hsm_recoveries_total"):
        n = delta(name)
        if n:
            failures.append(f"{name} rose by {n:g}")
    if f.get("signetd_rc") != "0" or f.get("stopped_cleanly") != "1":
        failures.append(f"signetd exited {f.get('signetd_rc')} on SIGTERM (stopped cleanly: {f.get('stopped_cleanly')})")
    if int(num("log_errors")) or int(num("log_warnings")):
        failures.append(f"signetd logged {int(num('log_errors'))} errors and {int(num('log_warnings'))} warnings")
    if int(num("pin_leaks")):
        failures.append(f"{int(num('pin_leaks'))} PINs appear in the soak's files")

    # Memory. Under load RSS follows the backlog of calls in flight (their gRPC buffers) by several MiB
    # from one sample to the next, so samples under load measure the backlog. A leak is what stays:
    # growth compares the quiet readings (signetd idle for 12 s, a malloc_trim done) before and after
    # the load. The medians of the first and last fifth of the load are reported, not judged.
    rss_start_1, rss_end_1 = num("rss_start_kib"), num("rss_end_kib")
    rss_start, rss_end, first, last = rss_window_medians(samples, num("rss_start_ms"), num("rss_end_ms"),
                                                         rss_start_1, rss_end_1)
    load_growth = (rss_end / rss_start - 1) * 100 if rss_start and rss_end else float("nan")
    quiet_start, quiet_end = num("rss_quiet_start_kib"), num("rss_quiet_end_kib")
    limit = None if f.get("max_rss_growth") == "off" else num("max_rss_growth", 5)
    ceiling_mib = float(f["max_rss_mib"]) if f.get("max_rss_mib") else None
    growth, rss_fails = rss_failures(quiet_start, quiet_end, limit, ceiling_mib, max(rss_end, rss_end_1))
    failures += rss_fails
    in_load = [s for s in samples if s["phase"] == "load"]
    rss_range = (min(int(s["rss_kib"]) for s in in_load), max(int(s["rss_kib"]) for s in in_load)) if in_load else None
    queue_max = max((int(s["queue_p256"]) for s in samples if s["phase"] in ("warmup", "load")), default=0)
    first_load = next((s for s in samples if s["phase"] in ("warmup", "load")), None)
    last_load = next((s for s in reversed(samples) if s["phase"] == "load"), None)

    lag99 = main_run.get("start_lag_p99_ms", 0)
    generator_behind = lag99 > 10
    lines = []
    p = lines.append
    p(f"soak: {load_s:.0f} s of load ({load_s / 60:.2f} min), {f.get('rotation')} rotation every "
      f"{f.get('rotate_every')} s; machine: {f.get('cores')} cores, load average {f.get('loadavg')} at the end")
    if peak:
        p(f"{'warm-up, not used for the given rate' if f.get('rate_given') == '1' else 'peak'} "
          f"(closed loop, {peak['clients']} client(s), {peak['concurrency']} in flight, --verify): "
          f"{peak['calls_per_s']:.0f} calls/s (p50 {peak['p50_ms']:.2f} ms, p99 {peak['p99_ms']:.2f} ms, "
          f"errors {peak['errors'] or 'none'})"
          + (f"; the lowest of {len(f['peak_readings'].split('/'))} readings: {f['peak_readings']}"
             if f.get('peak_readings') else ""))
    p(f"rate: target {rate:g} calls/s ({'given' if f.get('rate_given') == '1' else '{}% of the peak'.format(f.get('load_percent', '80'))}); "
      f"started {main_run.get('calls_per_s', 0):.1f}/s; served by signetd {served_rate:.1f}/s "
      f"({served_sigs:.0f} signatures over {wall_s:.1f} s)")
    p(f"load generator: at most {main_run.get('max_in_flight', 0)} calls in flight per client; calls never started "
      f"{main_run.get('not_started', 0)}; start lag p50 {main_run.get('start_lag_p50_ms', 0):.2f} ms, p99 {lag99:.2f} ms"
      + (" -- the generator fell behind its schedule (latencies include its lag)" if generator_behind else
         " (kept up)"))
    for name, run in (((f"{signer} ({clients} clients; latencies: the worst client's)" if clients > 1 else signer), main_run),
                      (bg_signer, bg_run)):
        if not run:
            p(f"{name}: no report")
            continue
        if run.get("verify_error"):
            p(f"{name}: verification FAILED: {run['verify_error']}")
        p(f"{name} ({run['curve']}, {run['items']} item(s)/call at {run['rate']:g} calls/s): {run['calls']} calls, "
          f"{run['signatures']} signatures, {run['verified']} verified, errors {run['errors'] or 'none'}; "
          f"latency p50 {run['p50_ms']:.2f} ms, p90 {run['p90_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, "
          f"max {run['max_ms']:.1f} ms")
    server_p50, server_p99 = histogram_quantiles(before, after, "signet_call_seconds", (0.5, 0.99), method="Sign")
    if server_p50 is not None:
        p(f"signetd's own view of Sign (handler to answer, both signers, histogram buckets): p50 <= "
          f"{server_p50 * 1000:g} ms, p99 <= {server_p99 * 1000:g} ms")
    p(f"signetd-side: {served_sigs + served_bg:.0f} signatures ({signer} {served_sigs:.0f}, {bg_signer} "
      f"{served_bg:.0f}), non-OK answers {server_errors or 'none'}, queue depth max {queue_max} ({signer}, 5-s samples)")
    cpu_line = cpu_summary(f, main_run, bg_run, served_sigs + served_bg, main_run.get("calls", 0) + bg_run.get("calls", 0))
    if cpu_line:
        p(cpu_line)
    if baseline_runs:
        calls = sum(b["run"].get("calls", 0) for b in baseline_runs)
        verified = sum(b["run"].get("verified", 0) for b in baseline_runs)
        p(f"baseline load before the first quiet reading: {baseline_s} s at the same rates, {calls} calls, "
          f"{verified} signatures verified, exit codes {f.get('baseline_rcs')}")
    p(f"errors: {total_errors} (by code: {errors or 'none'}; the baseline load's included)")
    p(f"rotations under load: {rotations} key changes (expected >= {expected}), failed checks {rotations_failed}; "
      f"keys that signed: {len(keys)}, their chains at x5u hold them: {f.get('chains_ok')}/{len(keys)}; "
      f"chains published in all: {f.get('published_chains')}")
    p(f"RSS (judged): {quiet_start / 1024:.1f} MiB quiet before the load "
      f"({'after the baseline load' if baseline_s else 'after the peak readings'}), {quiet_end / 1024:.1f} MiB quiet after it "
      f"({f.get('quiet_s')} s idle each): growth {growth:+.2f}% "
      f"({rss_parts_change(f.get('rss_quiet_start_parts_kib'), f.get('rss_quiet_end_parts_kib'))}) "
      f"with {f.get('token_objects_before')} -> {f.get('token_objects_after')} objects on the token "
      f"(limit: {'none, reported only' if limit is None else f'{limit:g}%'}"
      f"{'' if ceiling_mib is None else f'; ceiling at the end of the load {ceiling_mib:g} MiB'})")
    p(f"RSS under load (reported): {num('rss_at_start_kib') / 1024:.1f} MiB at signetd's start; after the "
      f"{f.get('warmup_s')}-s warm-up {rss_start_1 / 1024:.1f} MiB, 2 s before the end {rss_end_1 / 1024:.1f} MiB "
      f"(single samples); medians of the first and last fifth of the load ({len(first)} and {len(last)} samples) "
      f"{rss_start / 1024:.1f} and {rss_end / 1024:.1f} MiB ({load_growth:+.2f}%)"
      + (f"; range {rss_range[0] / 1024:.1f}..{rss_range[1] / 1024:.1f} MiB" if rss_range else ""))
    growth_by_kind = anon_growth_by_kind(read_anon_mappings(f"{d}/quiet-start.smaps", f"{d}/quiet-start.threads"),
                                         read_anon_mappings(f"{d}/quiet-end.smaps", f"{d}/quiet-end.threads"))
    if growth_by_kind:
        p("RSS anonymous change between the quiet readings, by mapping: " + "; ".join(
            f"{label}{f' (x{n})' if label.startswith('stack of') and n > 1 else ''} {kib:+d} KiB"
            for label, n, kib in growth_by_kind) + " (quiet-start/quiet-end .smaps and .threads)")
    steps = []
    for prev, cur in zip(samples, samples[1:]):
        if cur["phase"] in ("load",) and int(cur["rss_kib"]) - int(prev["rss_kib"]) > 2048:
            steps.append(f"{cur['elapsed_s']} s: +{(int(cur['rss_kib']) - int(prev['rss_kib'])) / 1024:.1f} MiB "
                         f"(queue {cur['queue_p256']})")
    if steps:
        p("RSS steps over 2 MiB between samples under load: " + "; ".join(steps))
    if first_load and last_load:
        p(f"threads {first_load['threads']} -> {last_load['threads']}, fds {first_load['fds']} -> {last_load['fds']} "
          f"(samples: rss.csv)")
    p(f"after: Firefox-rules verify {'ok' if f.get('firefox_verify_ok') == '1' else 'FAILED'}; signetd exit "
      f"{f.get('signetd_rc')} on SIGTERM; log errors {f.get('log_errors')}, warnings {f.get('log_warnings')}; "
      f"PINs in files: {f.get('pin_leaks')}")
    p("")
    p("soak PASSED" if not failures else "soak FAILED:\n  - " + "\n  - ".join(failures))
    text = "\n".join(lines)
    print(text)
    open(f"{d}/summary.txt", "w").write(text + "\n")
    json.dump({"facts": f, "peak": peak, "load": main_run, "load_clients": main_runs, "background": bg_run, "served_rate": served_rate,
               "rotations": rotations, "rss_quiet_start_kib": quiet_start, "rss_quiet_end_kib": quiet_end, "rss_growth_pct": None if math.isnan(growth) else growth,
               "rss_start_median_kib": rss_start, "rss_end_median_kib": rss_end,
               "server_errors": server_errors, "queue_max": queue_max, "failures": failures},
              open(f"{d}/summary.json", "w"), indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
