#!/usr/bin/env python3
"""Uptime benchmark for lookout: many HTTP monitors against a local target.

One command:  bench/monitors.sh [--monitors 10000] [--duration 180] [--skip-build]

  1. builds `lookout` and the `http_target` example in release (unless --skip-build);
  2. starts http_target on a free loopback port (`GET /m/{n}` answers 200 `{"status":"ok"}`);
  3. load phase: writes a config with --monitors HTTP monitors (`/m/1` … `/m/N`, interval
     --interval, the other keys at their defaults) and a fresh SQLite data dir, starts
     `lookout serve`, waits for /api/health, then samples every --sample-every s for
     --duration s: lookout's CPU (utime+stime from /proc/PID/stat), RSS (VmRSS, peak from
     VmHWM), the scheduler's figures (`GET /api/v1/scheduler`: lateness = actual start
     minus scheduled start over the trailing minute, checks started) and the target's
     request count. The first --warmup s (default: one interval, in which every monitor's
     first check is spread) are reported apart from the steady state after them;
  4. stops lookout (SIGTERM) and reads its database with sqlite3: rows in check_results,
     bytes per check for the table alone (dbstat page sizes, index pages included) and for
     the whole database file, results that were not "up";
  5. detection phase (a separate, small lookout; skip with --no-detection): --detect
     monitors, interval 60s, retry 20s, alert_after 2, each on its own path. Once each has
     been checked, path i is switched to 500 at a moment stratified over its check phase
     (from just after a check, the worst case, to just before one, the best), and the time
     from the switch to its `monitor_down` signal is measured (the signal's created time;
     the target's hit log splits it into "wait for the next check", "retry" and "record");
  6. prints a summary and writes it as JSON (--json-out, default bench/results/).

Fleet mode (--instances N --postgres URL): instead of 3-5, N lookouts with the same config
share a fresh schema in URL (dropped at the end unless --keep-db); each is sampled for the
monitors it runs and its lateness, and the target's per-path counts over the steady window
(after --warmup) show whether each monitor was checked once per interval between them.

Loopback only; every phase is bounded in time. The target and the sampler run on the same
machine as lookout and take a (small) share of the CPU. With --perf SECS, `perf record -e
cpu-clock -g` profiles lookout for SECS in the steady state and the top of the report is
saved beside the logs.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

from perf_profile import profile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOKEN = "bench-token-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
# Detection paths live far from the load phase's /m/1../m/N.
DETECT_BASE = 10_000_000


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, **kw)


def http(url, method="GET", token=None, timeout=10.0):
    """(status, parsed JSON or None) of a loopback request; HTTP errors are answers too."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, method=method, headers=headers, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            code = r.status
    except urllib.error.HTTPError as e:
        body, code = e.read(), e.code
    try:
        return code, json.loads(body) if body else None
    except ValueError:
        return code, None


# --------------------------------------------------------------- /proc

def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid):
    """VmRSS, VmHWM (KiB) and thread count of a process."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
                elif k == "Threads":
                    out[k] = int(v)
    except OSError:
        pass
    return out


def machine_ticks():
    """(busy, total) clock ticks of the whole machine."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


# ---------------------------------------------------------- processes

class Target:
    """The http_target example on a free loopback port."""

    def __init__(self, binary, workdir):
        self.log = open(os.path.join(workdir, "target.log"), "w")
        self.proc = subprocess.Popen([binary, "0"], stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if not m:
            sys.exit(f"http_target did not start: {line!r}; see {self.log.name}")
        self.addr = m.group(1)
        self.url = f"http://{self.addr}"

    def post(self, path):
        code, _ = http(self.url + path, method="POST")
        if code != 204:
            raise RuntimeError(f"target {path}: HTTP {code}")

    def hits(self, n):
        return http(f"{self.url}/hits/{n}")[1] or []

    def requests_or_none(self):
        try:
            return (http(f"{self.url}/stats")[1] or {}).get("requests")
        except OSError:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


class Lookout:
    """`lookout serve` on a fresh SQLite data dir; stderr goes to lookout.stderr.log."""

    def __init__(self, binary, workdir, monitors_toml, log_level, uptime_toml="", db_url=None, extra_toml=""):
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "lookout.toml")
        t = time.monotonic()
        with open(self.config, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:0"\ndata_dir = "{self.data}"\napi_token = "{TOKEN}"\n\n')
            if uptime_toml:
                f.write(f"[uptime]\n{uptime_toml}\n")
            f.write(extra_toml)
            f.write(monitors_toml)
        self.config_write_s = time.monotonic() - t
        self.config_bytes = os.path.getsize(self.config)
        self.stderr_path = os.path.join(workdir, "lookout.stderr.log")
        self.stderr = open(self.stderr_path, "w")
        self.stdout = open(os.path.join(workdir, "lookout.stdout.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
        env["LOOKOUT_LOG"] = log_level
        if db_url:
            env["LOOKOUT_DATABASE_URL"] = db_url
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config], stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=env)
        self.pid = self.proc.pid
        self.url = None
        deadline = time.monotonic() + 600
        while self.url is None:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit(f"lookout exited at start (code {self.proc.wait()}); see {self.stderr_path}")
            self.stdout.write(line)
            m = re.search(r"local address:\s*(http://\S+)", line)
            if m:
                self.url = m.group(1)
            if time.monotonic() > deadline:
                sys.exit("lookout did not print its address in 600 s")
        threading.Thread(target=self._drain, daemon=True).start()
        while True:
            try:
                code, _ = http(self.url + "/api/health", timeout=5)
                if code in (200, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit("lookout's /api/health did not answer")
            time.sleep(0.1)
        self.t_ready = time.monotonic()
        self.startup_s = self.t_ready - self.t_spawn

    def _drain(self):
        for line in self.proc.stdout:
            self.stdout.write(line)

    def api(self, path, timeout=10.0):
        return http(self.url + path, token=TOKEN, timeout=timeout)

    def stop(self):
        """SIGTERM and wait; returns the seconds it took to exit (None if it had to be killed)."""
        took = None
        if self.proc.poll() is None:
            t = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
                took = time.monotonic() - t
            except subprocess.TimeoutExpired:
                log("lookout did not exit 90 s after SIGTERM: killing it")
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return took

    def log_findings(self, keep=8):
        """Counts of WARN/ERROR lines in stderr and the first few distinct messages."""
        counts = {"WARN": 0, "ERROR": 0}
        samples = []
        seen = set()
        ansi = re.compile(r"\x1b\[[0-9;]*m")
        with open(self.stderr_path, errors="replace") as f:
            for raw in f:
                line = ansi.sub("", raw).rstrip()
                m = re.search(r"\b(WARN|ERROR)\b", line)
                if not m:
                    continue
                counts[m.group(1)] += 1
                # The message without timestamp and fields, to keep distinct kinds apart.
                key = re.sub(r"\d+", "#", line[m.start():])[:120]
                if key not in seen and len(samples) < keep:
                    seen.add(key)
                    samples.append(line[:300])
        return {"counts": counts, "first_distinct": samples}


# ------------------------------------------------------------ helpers

def monitor_toml(name, url, interval, extra=""):
    return f'[[monitors]]\nname = "{name}"\nkind = "http"\nurl = "{url}"\ninterval = "{interval}"\n{extra}\n'


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(p * (len(v) - 1)))))]


def db_figures(data_dir):
    """Rows and bytes per check from the stopped lookout's SQLite files."""
    files = {n: os.path.getsize(os.path.join(data_dir, n)) for n in sorted(os.listdir(data_dir))
             if os.path.isfile(os.path.join(data_dir, n))}
    dbs = [n for n in files if n.endswith(".db")]
    if not dbs:
        return {"error": f"no .db file in {data_dir}", "files": files}
    db = "lookout.db" if "lookout.db" in dbs else dbs[0]
    whole = sum(s for n, s in files.items() if n.startswith(db))
    conn = sqlite3.connect(f"file:{os.path.join(data_dir, db)}?mode=ro", uri=True)
    out = {"file": db, "files": files, "whole_db_bytes": whole}
    rows = conn.execute("SELECT COUNT(*) FROM check_results").fetchone()[0]
    out["check_results_rows"] = rows
    out["results_by_code"] = dict(conn.execute(
        "SELECT code, COUNT(*) FROM check_results GROUP BY code ORDER BY code").fetchall())
    out["top_errors"] = conn.execute(
        "SELECT error, COUNT(*) c FROM check_results WHERE error IS NOT NULL GROUP BY error "
        "ORDER BY c DESC LIMIT 5").fetchall()
    out["page_size"] = conn.execute("PRAGMA page_size").fetchone()[0]
    out["freelist_pages"] = conn.execute("PRAGMA freelist_count").fetchone()[0]
    out["rollup_rows"] = dict(conn.execute(
        "SELECT resolution, COUNT(*) FROM check_rollups GROUP BY resolution").fetchall())

    def objects(table):
        return [table] + [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))]

    try:
        per_table = {}
        for name, pages, pgsize, payload, unused in conn.execute(
                "SELECT name, COUNT(*), SUM(pgsize), SUM(payload), SUM(unused) FROM dbstat GROUP BY name"):
            per_table[name] = {"pages": pages, "bytes": pgsize, "payload": payload, "unused": unused}
        out["dbstat"] = per_table

        def sum_of(table):
            names = objects(table)
            return {k: sum(per_table.get(n, {}).get(k, 0) or 0 for n in names)
                    for k in ("pages", "bytes", "payload", "unused")} | {"objects": names}

        out["check_results"] = sum_of("check_results")
        out["check_rollups"] = sum_of("check_rollups")
        out["monitors_table"] = sum_of("monitors")
        out["dbstat_available"] = True
    except sqlite3.OperationalError as e:
        out["dbstat_available"] = False
        out["dbstat_error"] = str(e)
    out["monitors_rows"] = conn.execute("SELECT COUNT(*) FROM monitors").fetchone()[0]
    out["signals_by_kind"] = dict(conn.execute("SELECT kind, COUNT(*) FROM signals GROUP BY kind").fetchall()) \
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'signals'").fetchone() else {}
    conn.close()
    if rows:
        out["whole_db_bytes_per_check"] = whole / rows
        if out.get("dbstat_available"):
            cr = out["check_results"]
            out["table_bytes_per_check"] = cr["bytes"] / rows
            out["table_payload_bytes_per_check"] = cr["payload"] / rows
            out["table_fill"] = cr["payload"] / cr["bytes"] if cr["bytes"] else None
            ru = out["check_rollups"]
            out["rollup_bytes_per_check"] = ru["bytes"] / rows
            rollup_rows = sum(out["rollup_rows"].values())
            out["rollup_bytes_per_row"] = ru["bytes"] / rollup_rows if rollup_rows else None
            # Monitor definitions are a fixed cost, not a per-check one.
            out["whole_db_minus_monitors_bytes_per_check"] = (whole - out["monitors_table"]["bytes"]) / rows
    return out


# --------------------------------------------------------- load phase

def load_phase(args, binary, target, workdir):
    n = args.monitors
    t = time.monotonic()
    parts = [monitor_toml(f"m{i:06d}", f"{target.url}/m/{i}", args.interval) for i in range(1, n + 1)]
    toml = "".join(parts)
    log(f"config with {n} monitors generated in {time.monotonic() - t:.2f} s ({len(toml) / 1e6:.1f} MB)")
    uptime = f"max_concurrent_checks = {args.max_concurrent}\n" if args.max_concurrent else ""
    lk = Lookout(binary, workdir, toml, args.log_level, uptime)
    log(f"lookout pid {lk.pid} at {lk.url}: ready in {lk.startup_s:.2f} s (config load and monitor sync included)")

    target_pid = target.proc.pid
    samples = []
    perf_thread = None
    perf_box = {}
    t0 = lk.t_ready
    end = t0 + args.duration
    next_at = t0
    while True:
        now = time.monotonic()
        if now >= next_at:
            try:
                code, sched = lk.api("/api/v1/scheduler")
            except OSError as e:  # an unanswered sample is a finding, not a crash
                log(f"GET /api/v1/scheduler failed: {e}")
                code, sched = None, None
            st = proc_status(lk.pid)
            mb, mt = machine_ticks()
            s = {
                "t": round(time.monotonic() - t0, 2),
                "cpu_ticks": proc_cpu_ticks(lk.pid),
                "target_cpu_ticks": proc_cpu_ticks(target_pid),
                "machine_busy_ticks": mb, "machine_total_ticks": mt,
                "rss_kib": st.get("VmRSS"), "hwm_kib": st.get("VmHWM"), "threads": st.get("Threads"),
                "sched": sched if code == 200 else None,
                "target_requests": target.requests_or_none(),
            }
            samples.append(s)
            sc = s["sched"] or {}
            log(f"t={s['t']:6.1f}s  rss {(s['rss_kib'] or 0) / 1024:6.1f} MiB  "
                f"started {sc.get('checks_started')}  running {sc.get('running')}  overdue {sc.get('overdue')}  "
                f"late p50/p99/max {sc.get('late_p50_ms')}/{sc.get('late_p99_ms')}/{sc.get('late_max_ms')} ms")
            if lk.proc.poll() is not None:
                sys.exit(f"lookout exited during the run (code {lk.proc.returncode}); see {lk.stderr_path}")
            if (args.perf and perf_thread is None and s["t"] >= args.warmup):
                secs = min(args.perf, max(5, int(end - time.monotonic()) - 5))
                perf_thread = threading.Thread(
                    target=lambda: perf_box.setdefault("r", profile(lk.pid, secs, workdir)), daemon=True)
                perf_thread.start()
            next_at += args.sample_every
            if next_at > end + 0.5:
                break
        time.sleep(max(0.0, min(next_at, end) - time.monotonic()))
    if perf_thread:
        perf_thread.join()
    perf_report = perf_box.get("r")
    shutdown_s = lk.stop()
    log(f"lookout stopped in {shutdown_s:.2f} s" if shutdown_s is not None else "lookout was killed")

    db = db_figures(lk.data)
    res = summarise_load(args, samples, lk, db)
    res["shutdown_s"] = shutdown_s
    res["log"] = lk.log_findings()
    res["perf_report"] = perf_report
    res["samples"] = samples
    return res


def fleet_phase(args, binary, target, workdir):
    """--instances N on --postgres: N lookouts with the same config on one fresh schema.

    Reports each instance's monitors (`checks.cluster.monitors_owned`), whether every
    monitor was checked once per interval between them (the target's per-path counts over
    the steady window against the number of intervals in it) and the lateness p99 (the
    worst of the instances' trailing-minute p99s)."""
    n = args.monitors
    schema = f"lookout_bench_{int(time.time())}_{os.getpid()}"
    run(["psql", args.postgres, "-q", "-c", f"CREATE SCHEMA {schema}"])
    sep = "&" if "?" in args.postgres else "?"
    db_url = f"{args.postgres}{sep}options=-c%20search_path%3D{schema}"
    toml = "".join(monitor_toml(f"m{i:06d}", f"{target.url}/m/{i}", args.interval) for i in range(1, n + 1))
    uptime = f"max_concurrent_checks = {args.max_concurrent}\n" if args.max_concurrent else ""
    fleet = []
    try:
        for k in range(args.instances):
            d = os.path.join(workdir, f"i{k}")
            os.makedirs(d)
            lk = Lookout(binary, d, toml, args.log_level, uptime, db_url=db_url,
                         extra_toml=f'[cluster]\ninstance_name = "bench-{k}"\n\n')
            log(f"instance {k}: pid {lk.pid} at {lk.url}, ready in {lk.startup_s:.2f} s")
            fleet.append(lk)
        t0 = time.monotonic()
        every = parse_interval(args.interval)
        samples = []
        counts_at = {}
        end = t0 + args.duration
        while time.monotonic() < end:
            t = round(time.monotonic() - t0, 1)
            row = {"t": t, "instances": []}
            for lk in fleet:
                if lk.proc.poll() is not None:
                    sys.exit(f"an instance exited (code {lk.proc.returncode}); see {lk.stderr_path}")
                try:
                    _, h = lk.api("/api/health")
                    _, sched = lk.api("/api/v1/scheduler")
                except OSError as e:
                    log(f"sample failed: {e}")
                    h, sched = {}, {}
                c = ((h or {}).get("checks") or {}).get("cluster") or {}
                row["instances"].append({"owned": c.get("monitors_owned"), "duties": c.get("duties"),
                                         "late_p99_ms": (sched or {}).get("late_p99_ms"),
                                         "checks_started": (sched or {}).get("checks_started"),
                                         "rss_kib": proc_status(lk.pid).get("VmRSS")})
            samples.append(row)
            log(f"t={t:6.1f}s  owned {[i['owned'] for i in row['instances']]}  "
                f"late p99 {[i['late_p99_ms'] for i in row['instances']]} ms")
            if t >= args.warmup and "from" not in counts_at:
                counts_at["from"] = (time.monotonic(), http(f"{target.url}/counts")[1] or {})
            time.sleep(max(0.0, min(args.sample_every, end - time.monotonic())))
        counts_at["to"] = (time.monotonic(), http(f"{target.url}/counts")[1] or {})
    finally:
        for lk in fleet:
            lk.stop()
        if not args.keep_db:
            # The cascade lists every table as a NOTICE.
            quiet = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
            subprocess.run(["psql", args.postgres, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"], check=False, env=quiet)
    if "from" not in counts_at:
        sys.exit("--duration must exceed --warmup")
    (ta, a), (tb, b) = counts_at["from"], counts_at["to"]
    intervals = (tb - ta) / every
    per = [b.get(str(i), 0) - a.get(str(i), 0) for i in range(1, n + 1)]
    # Over a window of k intervals a monitor checked once per interval has floor(k) or
    # ceil(k) checks in it; more is a double check, fewer a missed one.
    lo, hi = int(intervals), -(-intervals // 1)
    steady = [s for s in samples if s["t"] >= args.warmup]
    p99s = [i["late_p99_ms"] for s in steady for i in s["instances"] if i["late_p99_ms"] is not None]
    return {
        "instances": args.instances, "monitors": n, "interval": args.interval,
        "owned_at_end": [i["owned"] for i in samples[-1]["instances"]] if samples else [],
        "duties_at_end": [i["duties"] for i in samples[-1]["instances"]] if samples else [],
        "window_s": round(tb - ta, 1), "intervals_in_window": round(intervals, 2),
        "checks_per_monitor_min": min(per) if per else None,
        "checks_per_monitor_max": max(per) if per else None,
        "monitors_checked_too_often": sum(1 for c in per if c > hi),
        "monitors_checked_too_rarely": sum(1 for c in per if c < lo),
        "late_p99_ms_max": max(p99s) if p99s else None,
        "logs": [lk.log_findings() for lk in fleet],
        "samples": samples,
    }


def summarise_load(args, samples, lk, db):
    steady = [s for s in samples if s["t"] >= args.warmup - 0.5]
    warm = [s for s in samples if s["t"] < args.warmup - 0.5]

    def rate(a, b, key, scale):
        if a[key] is None or b[key] is None or b["t"] <= a["t"]:
            return None
        return (b[key] - a[key]) / scale / (b["t"] - a["t"])

    def pct_of(r):
        return None if r is None else 100 * r

    def sched_vals(group, key):
        return [s["sched"][key] for s in group if s["sched"] is not None]

    def window(group):
        if len(group) < 2:
            return None
        a, b = group[0], group[-1]
        checks = None
        if a["sched"] and b["sched"]:
            checks = (b["sched"]["checks_started"] - a["sched"]["checks_started"]) / (b["t"] - a["t"])
        total = max(1, b["machine_total_ticks"] - a["machine_total_ticks"])
        busy = (b["machine_busy_ticks"] - a["machine_busy_ticks"]) / total
        treq = None
        if a["target_requests"] is not None and b["target_requests"] is not None:
            treq = (b["target_requests"] - a["target_requests"]) / (b["t"] - a["t"])
        p50s = sched_vals(group, "late_p50_ms")
        return {
            "from_s": a["t"], "to_s": b["t"],
            "cpu_pct_of_one_core": pct_of(rate(a, b, "cpu_ticks", CLK_TCK)),
            "target_cpu_pct_of_one_core": pct_of(rate(a, b, "target_cpu_ticks", CLK_TCK)),
            "machine_busy_pct_of_all_cores": 100 * busy,
            "checks_per_s": checks,
            "target_requests_per_s": treq,
            "late_p50_ms_median": statistics.median(p50s) if p50s else None,
            "late_p99_ms_max": max(sched_vals(group, "late_p99_ms"), default=None),
            "late_max_ms_max": max(sched_vals(group, "late_max_ms"), default=None),
            "overdue_max": max(sched_vals(group, "overdue"), default=None),
            "running_max": max(sched_vals(group, "running"), default=None),
            "rss_mib_max": max((s["rss_kib"] or 0) for s in group) / 1024,
            "scheduler_unanswered": sum(1 for s in group if s["sched"] is None),
        }

    # Per-interval CPU, to show whether it is steady or bursty.
    cpu_series = []
    for a, b in zip(samples, samples[1:]):
        r = rate(a, b, "cpu_ticks", CLK_TCK)
        cpu_series.append(round(100 * r, 1) if r is not None else None)
    last = samples[-1]
    return {
        "monitors": args.monitors,
        "interval": args.interval,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "config_bytes": lk.config_bytes,
        "startup_s": lk.startup_s,
        "warmup": window(warm + steady[:1]),
        "steady": window(steady),
        "cpu_pct_series": cpu_series,
        "peak_rss_mib": (last["hwm_kib"] or 0) / 1024,
        "final_rss_mib": (last["rss_kib"] or 0) / 1024,
        "threads_max": max((s["threads"] or 0) for s in samples),
        "checks_started_total": (last["sched"] or {}).get("checks_started"),
        "db": db,
    }


# ---------------------------------------------------- detection phase

def detection_phase(args, binary, target, workdir):
    k = args.detect
    interval_s, retry_s = 60, 20
    rng = random.Random(args.seed)
    paths = [DETECT_BASE + i for i in range(1, k + 1)]
    for p in paths:
        target.post(f"/up/{p}")  # tracked from now on: the target logs each hit
    toml = "".join(monitor_toml(f"d{i:02d}", f"{target.url}/m/{p}", f"{interval_s}s",
                                f'retry_interval = "{retry_s}s"\nalert_after = 2\n')
                   for i, p in enumerate(paths, 1))
    lk = Lookout(binary, workdir, toml, args.log_level)
    log(f"detection: lookout pid {lk.pid} with {k} monitors (interval {interval_s}s, retry {retry_s}s, "
        f"alert_after 2), ready in {lk.startup_s:.2f} s")
    try:
        _, mons = lk.api("/api/v1/monitors")
        ids = {m["name"]: m["id"] for m in mons}
        id_of = {p: ids[f"d{i:02d}"] for i, p in enumerate(paths, 1)}

        # Warm-up: every monitor checked once (its first check is spread over one interval).
        deadline = time.monotonic() + interval_s + 30
        while True:
            first = {p: target.hits(p) for p in paths}
            if all(first.values()):
                break
            if time.monotonic() > deadline:
                sys.exit(f"detection: not every path was checked within {interval_s + 30} s: {first}")
            time.sleep(1)
        log("detection: every monitor has been checked once; scheduling the switches")

        # Path i goes down u_i of an interval after one of its checks, u_i stratified over
        # (0, 1): u near 0 is the worst case (a full interval until the next check, then the
        # retry), u near 1 the best (next check at once, then the retry).
        now_ms = time.time() * 1000
        order = list(range(k))
        rng.shuffle(order)
        plan = []
        for j, p in enumerate(paths):
            u = (order[j] + rng.uniform(0.05, 0.95)) / k
            last = first[p][-1][0]
            c = last
            while c < now_ms + 1000:  # the first predicted check at least 1 s ahead
                c += interval_s * 1000
            plan.append({"path": p, "monitor_id": id_of[p], "u": round(u, 3),
                         "switch_at_ms": c + u * interval_s * 1000})
        plan.sort(key=lambda x: x["switch_at_ms"])

        after = 0
        found = {}

        def poll_signals():
            nonlocal after
            code, sigs = lk.api(f"/api/v1/signals?after={after}&limit=1000")
            if code != 200 or not sigs:
                return
            seen_ms = time.time() * 1000
            for s in sigs:
                after = max(after, s["id"])
                if s.get("kind") == "monitor_down" and s.get("monitor_id") is not None:
                    found.setdefault(s["monitor_id"], {"created_ms": s["created_ms"], "seen_ms": seen_ms,
                                                        "detail": s.get("detail")})

        poll_signals()
        before = dict(found)
        if before:
            log(f"detection: monitor_down signals before any switch: {before}")
            found.clear()
        pending = list(plan)
        end_ms = plan[-1]["switch_at_ms"] + (interval_s + retry_s + 40) * 1000
        while time.time() * 1000 < end_ms:
            now_ms = time.time() * 1000
            while pending and pending[0]["switch_at_ms"] <= now_ms:
                x = pending.pop(0)
                x["switched_ms"] = time.time() * 1000
                target.post(f"/down/{x['path']}")
                log(f"detection: /m/{x['path']} (monitor {x['monitor_id']}) down, u={x['u']}")
            poll_signals()
            if not pending and all(x["monitor_id"] in found for x in plan):
                break
            nxt = pending[0]["switch_at_ms"] / 1000 if pending else time.time() + 0.25
            time.sleep(max(0.01, min(0.25, nxt - time.time())))

        rows = []
        for x in plan:
            hits = target.hits(x["path"])
            fails = [h[0] for h in hits if h[1] != 200 and h[0] >= x["switched_ms"]]
            sig = found.get(x["monitor_id"])
            r = dict(x)
            r["failing_checks_ms"] = fails[:4]
            if sig:
                r["detect_s"] = (sig["created_ms"] - x["switched_ms"]) / 1000
                r["seen_by_poll_s"] = (sig["seen_ms"] - x["switched_ms"]) / 1000
                r["signal_detail"] = sig["detail"]
            if fails:
                r["wait_first_check_s"] = (fails[0] - x["switched_ms"]) / 1000
            if len(fails) >= 2:
                r["retry_gap_s"] = (fails[1] - fails[0]) / 1000
                if sig:
                    r["record_lag_s"] = (sig["created_ms"] - fails[1]) / 1000
            # What the schedule alone allows: the next check, then one retry.
            r["ideal_s"] = round((1 - x["u"]) * interval_s + retry_s, 2)
            rows.append(r)
            nan = float("nan")
            if "detect_s" in r:
                what = (f"down signal after {r['detect_s']:.1f} s (ideal {r['ideal_s']:.1f} s; "
                        f"next check after {r.get('wait_first_check_s', nan):.1f} s, "
                        f"retry gap {r.get('retry_gap_s', nan):.1f} s, "
                        f"signal {r.get('record_lag_s', nan):.2f} s after the 2nd failure, "
                        f"in the API {r['seen_by_poll_s'] - r['detect_s']:.2f} s later)")
            else:
                what = "NO down signal"
            log(f"detection: monitor {x['monitor_id']} u={x['u']:.2f}: {what}")
        times = [r["detect_s"] for r in rows if "detect_s" in r]
        res = {
            "monitors": k, "interval_s": interval_s, "retry_s": retry_s, "alert_after": 2, "seed": args.seed,
            "detected": len(times), "missed": k - len(times),
            "detect_s_min": min(times, default=None),
            "detect_s_median": statistics.median(times) if times else None,
            "detect_s_max": max(times, default=None),
            "worst_case_bound_s": interval_s + retry_s,
            "excess_over_ideal_s_max": max((r["detect_s"] - r["ideal_s"] for r in rows if "detect_s" in r),
                                           default=None),
            "signals_before_switch": len(before),
            "rows": rows,
        }
    finally:
        lk.stop()
        for p in paths:
            target.post(f"/up/{p}")
    res["log"] = lk.log_findings()
    return res


# ---------------------------------------------------------------- main

def fmt(v, spec=".1f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--monitors", type=int, default=10_000, help="HTTP monitors in the load phase (0: skip it)")
    ap.add_argument("--duration", type=int, default=180, help="load phase sampling time after ready, s (bound)")
    ap.add_argument("--warmup", type=int, default=60, help="first seconds of the load phase reported apart")
    ap.add_argument("--interval", default="60s", help="monitor interval in the load phase")
    ap.add_argument("--sample-every", type=float, default=5.0, help="sampling period, s")
    ap.add_argument("--max-concurrent", type=int, help="set [uptime] max_concurrent_checks (default: lookout's)")
    ap.add_argument("--detect", type=int, default=6, help="monitors in the detection phase")
    ap.add_argument("--no-detection", action="store_true", help="skip the detection phase")
    ap.add_argument("--detection-only", action="store_true", help="run only the detection phase")
    ap.add_argument("--seed", type=int, default=None, help="seed of the detection phase's switch moments")
    ap.add_argument("--perf", type=int, default=0, metavar="SECS",
                    help="profile lookout with perf for SECS in the steady state")
    ap.add_argument("--log-level", default="warn", help="LOOKOUT_LOG for the server")
    ap.add_argument("--keep-db", action="store_true", help="keep the SQLite files in the work dir")
    ap.add_argument("--skip-build", action="store_true", help="use the existing target/release binaries")
    ap.add_argument("--instances", type=int, default=1,
                    help="lookout instances sharing --postgres (fleet mode when > 1; no detection phase)")
    ap.add_argument("--postgres", help="PostgreSQL URL for --instances; a fresh schema is made and dropped")
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "target", "release"),
                    help="where lookout and examples/http_target are (with --skip-build: a quick trial on "
                         "target/debug; figures only from release)")
    ap.add_argument("--json-out", help="write the results here (default bench/results/monitors-<n>-<time>.json)")
    args = ap.parse_args()
    if args.detection_only:
        args.monitors = 0
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    if args.instances > 1 and not args.postgres:
        sys.exit("--instances N needs --postgres URL (several instances share one PostgreSQL database)")
    if args.postgres:
        args.no_detection = True
    if args.duration <= args.warmup + args.sample_every and args.monitors:
        sys.exit("--duration must exceed --warmup by at least one sample")

    if not args.skip_build:
        try:
            run(["cargo", "build", "--release", "-p", "lookout", "--bin", "lookout", "--example", "http_target"],
                cwd=REPO)
        except subprocess.CalledProcessError:
            sys.exit("the build failed (see above); fix it, or pass --skip-build to use the binaries "
                     "already in target/release")
    binary = os.path.join(args.bin_dir, "lookout")
    target_bin = os.path.join(args.bin_dir, "examples", "http_target")
    for b in (binary, target_bin):
        if not os.path.exists(b):
            sys.exit(f"{b} is missing: build without --skip-build")

    workdir = tempfile.mkdtemp(prefix="lookout-monitors-")
    log(f"work dir {workdir}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} before start")
    target = Target(target_bin, workdir)
    log(f"http_target pid {target.proc.pid} at {target.url}")
    load = det = fleet = None
    try:
        if args.postgres:
            os.makedirs(os.path.join(workdir, "fleet"))
            fleet = fleet_phase(args, binary, target, os.path.join(workdir, "fleet"))
        elif args.monitors:
            os.makedirs(os.path.join(workdir, "load"))
            load = load_phase(args, binary, target, os.path.join(workdir, "load"))
        if not args.no_detection and args.detect:
            os.makedirs(os.path.join(workdir, "detect"))
            det = detection_phase(args, binary, target, os.path.join(workdir, "detect"))
    finally:
        target.stop()
        if not args.keep_db:
            for phase in ("load", "detect"):
                shutil.rmtree(os.path.join(workdir, phase, "data"), ignore_errors=True)

    result = {
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "machine": {"cpus": os.cpu_count(), "note": "lookout, the target and the sampler share the CPUs",
                    "loadavg_at_end": os.getloadavg()},
        "load": load, "detection": det, "fleet": fleet, "workdir": workdir,
        "command": " ".join([os.path.relpath(os.path.join(HERE, "monitors.sh"), os.getcwd())] + sys.argv[1:]),
    }
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.json_out or os.path.join(HERE, "results", f"monitors-{args.monitors}-{stamp}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)

    rows = [("machine", f"{os.cpu_count()} CPUs, shared by lookout, the target and the sampler")]
    if fleet:
        rows += [
            ("fleet", f"{fleet['instances']} instances on PostgreSQL, {fleet['monitors']} HTTP monitors, "
                      f"interval {fleet['interval']}"),
            ("monitors per instance", f"{fleet['owned_at_end']} (duties {fleet['duties_at_end']})"),
            ("checks per monitor", f"{fleet['checks_per_monitor_min']}-{fleet['checks_per_monitor_max']} in "
                                   f"{fleet['window_s']} s ({fleet['intervals_in_window']} intervals); "
                                   f"too often {fleet['monitors_checked_too_often']}, "
                                   f"too rarely {fleet['monitors_checked_too_rarely']}"),
            ("lateness p99 (steady)", f"{fmt(fleet['late_p99_ms_max'], '.0f')} ms (worst instance, trailing minute)"),
            ("lookout logs", f"{[x['counts'] for x in fleet['logs']]}"),
        ]
    if load:
        st, wu, db = load["steady"] or {}, load["warmup"] or {}, load["db"]
        goal = lambda ok: "ok" if ok else "MISSED"  # noqa: E731
        rows += [
            ("monitors", f"{load['monitors']} HTTP, interval {load['interval']}; "
                         f"ready {load['startup_s']:.1f} s after start"),
            ("steady window", f"{st.get('from_s', 0):.0f}-{st.get('to_s', 0):.0f} s after ready "
                              f"(warm-up: first {load['warmup_s']} s)"),
            ("lateness p50 / p99 (steady)",
             f"{fmt(st.get('late_p50_ms_median'), '.0f')} / {fmt(st.get('late_p99_ms_max'), '.0f')} ms "
             f"(median of p50, max of p99 over trailing-minute samples; "
             f"max {fmt(st.get('late_max_ms_max'), '.0f')} ms) "
             f"[goal p99 <= 1000 ms: {goal((st.get('late_p99_ms_max') or 0) <= 1000)}]"),
            ("lateness p50 / p99 (warm-up)", f"{fmt(wu.get('late_p50_ms_median'), '.0f')} / "
                                             f"{fmt(wu.get('late_p99_ms_max'), '.0f')} ms"),
            ("CPU (steady)", f"{fmt(st.get('cpu_pct_of_one_core'))} % of one core "
                             f"[goal <= 25 %: {goal((st.get('cpu_pct_of_one_core') or 0) <= 25)}]; "
                             f"warm-up {fmt(wu.get('cpu_pct_of_one_core'))} %"),
            ("target CPU / machine busy", f"{fmt(st.get('target_cpu_pct_of_one_core'))} % of one core / "
                                          f"{fmt(st.get('machine_busy_pct_of_all_cores'))} % of all cores"),
            ("peak RSS (VmHWM)", f"{load['peak_rss_mib']:.1f} MiB [goal <= 200 MB: "
                                 f"{goal(load['peak_rss_mib'] * 1.048576 <= 200)}]; "
                                 f"at end {load['final_rss_mib']:.1f} MiB"),
            ("checks/s (steady)", f"{fmt(st.get('checks_per_s'))} started "
                                  f"(expected {load['monitors'] / parse_interval(load['interval']):.1f}); "
                                  f"target saw {fmt(st.get('target_requests_per_s'))} req/s"),
            ("running / overdue max", f"{st.get('running_max')} / {st.get('overdue_max')}"),
        ]
        if "error" in db:
            rows.append(("database", db["error"]))
        else:
            rows.append(("check_results rows", f"{db['check_results_rows']} "
                                               f"(checks started: {load['checks_started_total']}); "
                                               f"by code {db['results_by_code']}"))
            if db.get("top_errors"):
                rows.append(("errors stored", "; ".join(f"{c}x {e[:80]}" for e, c in db["top_errors"])))
            if db.get("dbstat_available") and db["check_results_rows"]:
                cr = db["check_results"]
                rows.append(("bytes/check, check_results", f"{db['table_bytes_per_check']:.1f} B in pages "
                             f"({db['table_payload_bytes_per_check']:.1f} B payload, "
                             f"pages {100 * db['table_fill']:.0f} % full; "
                             f"{cr['pages']} pages of {db['page_size']} B)"))
                per_row = db.get("rollup_bytes_per_row")
                rows.append(("check_rollups", (f"{per_row:.1f} B per roll-up row" if per_row else "no rows yet")
                             + f" (rows by resolution in minutes: {db['rollup_rows']})"))
                # Per monitor and day at this interval: raw results, and one minute roll-up per
                # minute with a check in it (kept longer than raw results; see [uptime]).
                every = parse_interval(load["interval"])
                raw_day = db["table_bytes_per_check"] * 86400 / every
                line = f"raw results {raw_day / 1024:.1f} KiB"
                if per_row:
                    line += f", minute roll-ups {per_row * min(1440, 86400 / every) / 1024:.1f} KiB"
                rows.append(("stored per monitor-day", line))
            elif not db.get("dbstat_available"):
                rows.append(("bytes/check, check_results", f"dbstat unavailable ({db.get('dbstat_error')})"))
            if db["check_results_rows"]:
                minus = db.get("whole_db_minus_monitors_bytes_per_check")
                rows.append(("bytes/check, whole db", f"{db['whole_db_bytes_per_check']:.1f} B "
                             f"({db['whole_db_bytes'] / 1e6:.1f} MB incl. {db['monitors_rows']} monitor definitions"
                             + (f"; {minus:.1f} B without the monitors table)" if minus is not None else ")")))
        rows.append(("shutdown", f"{fmt(load['shutdown_s'], '.2f')} s after SIGTERM"))
        rows.append(("lookout log", f"{load['log']['counts']}"))
        if load.get("perf_report"):
            rows.append(("perf report", load["perf_report"]))
    if det:
        rows += [
            ("detection", f"{det['detected']}/{det['monitors']} detected; min / median / max "
                          f"{fmt(det['detect_s_min'])} / {fmt(det['detect_s_median'])} / {fmt(det['detect_s_max'])} s "
                          f"(bound interval+retry = {det['worst_case_bound_s']} s; most over the schedule's own "
                          f"{fmt(det['excess_over_ideal_s_max'], '.2f')} s)"),
            ("detection log", f"{det['log']['counts']}"),
        ]
    w = max(len(r[0]) for r in rows)
    print()
    print("=" * 100)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print("=" * 100)
    for phase, res in (("load", load), ("detection", det)):
        if res and res.get("log", {}).get("first_distinct"):
            print(f"{phase} phase, first distinct WARN/ERROR lines of lookout:")
            for line in res["log"]["first_distinct"]:
                print("  " + line)
    print(f"results: {out}\nlogs: {workdir}")


def parse_interval(s):
    m = re.fullmatch(r"(\d+)\s*(ms|s|m|h)?", s.strip())
    if not m:
        return 60.0
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


if __name__ == "__main__":
    main()
