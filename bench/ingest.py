#!/usr/bin/env python3
"""Ingest benchmark for lookout with real sentry-sdk traffic (../shared/bench corpus).

One command:  bench/ingest.sh [--postgres URL] [--duration 60] [--concurrency 24]

  1. builds `lookout` and the `loadgen` example in release;
  2. starts lookout on 127.0.0.1 with a fresh SQLite data dir (or a fresh database on the
     PostgreSQL server given with --postgres), no rate limit or quota;
  3. generates the corpus if missing (a venv with sentry-sdk + brotli is created in
     ~/.cache/lookout-bench-venv unless $BENCH_PYTHON names a python that has them), and
     builds one pack of raw requests with replay.py (fresh event ids, current timestamps;
     cached in ~/.cache/lookout-bench for reuse within a day);
  4. (a) idle RSS after start;
     (b) saturating run: wrk + replay.lua at --concurrency for --duration s (or until the
         pack's saturation share is used up), RSS sampled every 0.5 s; stored events/s =
         rows added to the `events` table / wrk's active time; wrk's accepted/s, p50/p99;
     (c) fixed-rate run: `loadgen` (open loop) at --rate events/s for --rate-duration s,
         latency from each request's due time (p50/p99/max);
     with --spans K the saturating run sends K span envelopes (v2 `span` items as
     @sentry/node 10+ sends them: a segment span per request and its child spans) after
     each event, so the figure says what request timings cost the error path;
  5. prints a summary table and writes it as JSON (--json-out, default bench/results/).

Loopback only; every run is bounded in time and in request count. The load generators
run on the same machine as the server: on a 2-core box they take a share of the CPU the
server could have used, so the figures are a floor.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone

from perf_profile import profile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
KEY = "b0b0b0b0c1c1c1c1d2d2d2d2e3e3e3e3"
PROJECT_ID = 7
TOKEN = "bench-token-0123456789"
CACHE = os.path.expanduser("~/.cache/lookout-bench")
VENV = os.path.expanduser("~/.cache/lookout-bench-venv")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, **kw)


# ------------------------------------------------------------------ setup

def bench_python():
    """A python with sentry-sdk and brotli: $BENCH_PYTHON, or the bench venv (created)."""
    py = os.environ.get("BENCH_PYTHON") or os.path.join(VENV, "bin", "python")
    probe = [py, "-c", "import sentry_sdk, brotli"]
    if os.path.exists(py) and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    if os.environ.get("BENCH_PYTHON"):
        sys.exit(f"$BENCH_PYTHON={py} lacks sentry-sdk or brotli")
    log(f"creating {VENV} with sentry-sdk and brotli")
    run([sys.executable, "-m", "venv", VENV])
    run([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "sentry-sdk", "brotli"])
    return py


def ensure_corpus(py, shared, corpus):
    if os.path.exists(os.path.join(corpus, "manifest.json")):
        return
    if os.path.isdir(corpus) and os.listdir(corpus):
        sys.exit(f"{corpus} holds an incomplete corpus: remove it")
    os.makedirs(corpus, exist_ok=True)
    # Run from an empty folder: sentry-sdk marks frames under the working directory
    # in_app, and the generator's own frames should not be.
    with tempfile.TemporaryDirectory() as cwd:
        run([py, os.path.join(shared, "gen_corpus.py"), "--out", corpus], cwd=cwd, stdout=subprocess.DEVNULL)


def ensure_pack(py, shared, corpus, total):
    """One pack of `total` unique requests (fresh event ids) for project PROJECT_ID/KEY."""
    with open(os.path.join(corpus, "manifest.json")) as f:
        generated = json.load(f)["generated_at"]
    os.makedirs(CACHE, exist_ok=True)
    meta_path = os.path.join(CACHE, "pack.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        fresh = time.time() - meta.get("built_at", 0) < 20 * 3600
        if (fresh and meta.get("corpus") == corpus and meta.get("generated_at") == generated
                and meta.get("requests", 0) >= total and os.path.exists(meta.get("pack", ""))):
            log(f"reusing pack {meta['pack']} ({meta['requests']} requests, built {meta['built_iso']})")
            return meta["pack"]
        if os.path.exists(meta.get("pack", "")):
            os.unlink(meta["pack"])
    log(f"building a pack of {total} requests (re-compressing each; takes a while, cached after)")
    out_json = os.path.join(CACHE, "pack-build.json")
    # --client python --duration 0: build the pack, send nothing. The DSN's port is never
    # contacted; wrk and loadgen send to the real server's address.
    run([py, os.path.join(shared, "replay.py"), "--dsn", f"http://{KEY}@127.0.0.1:9/{PROJECT_ID}",
         "--corpus", corpus, "--kinds", "events", "--client", "python", "--duration", "0",
         "--count", str(total), "--unique", str(total), "--keep-pack", "--pack-dir", CACHE,
         "--json-out", out_json], stdout=subprocess.DEVNULL)
    with open(out_json) as f:
        pack = json.load(f)["pack"]["pack"]
    meta = {"pack": pack, "requests": total, "corpus": corpus, "generated_at": generated,
            "built_at": time.time(), "built_iso": datetime.now(timezone.utc).isoformat()}
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return pack


# ----------------------------------------------------------------- server

class Server:
    def __init__(self, binary, workdir, database_url):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.database_url = database_url
        cfg = os.path.join(workdir, "lookout.toml")
        db = f'database_url = "{database_url}"\n' if database_url else ""
        with open(cfg, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:0"\ndata_dir = "{self.data}"\napi_token = "{TOKEN}"\n{db}\n'
                    f'[[projects]]\nslug = "app"\nid = {PROJECT_ID}\npublic_key = "{KEY}"\n'
                    f'rate_limit_per_minute = 0\nmonthly_quota = 0\n')
        self.log = open(os.path.join(workdir, "server.log"), "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
        env["LOOKOUT_LOG"] = "warn"
        self.proc = subprocess.Popen([binary, "serve", "--config", cfg], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, env=env)
        self.url = None
        deadline = time.time() + 60
        while self.url is None:
            line = self.proc.stdout.readline()
            if not line:
                sys.exit(f"lookout exited at start; see {self.log.name}")
            m = re.search(r"local address:\s*(http://\S+)", line)
            if m:
                self.url = m.group(1)
            if time.time() > deadline:
                sys.exit("lookout did not print its address in 60 s")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.addr = self.url.replace("http://", "")
        self.wait_ready()

    def wait_ready(self):
        for _ in range(100):
            try:
                self.api("/api/v1/projects/app/stats")
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("lookout's API did not answer")

    def api(self, path):
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def rss_kib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def cpu_by_thread(self):
        """{thread name: CPU seconds (user + system)} of lookout's threads."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        base = f"/proc/{self.proc.pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"{base}/{tid}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        return out

    def events_stored(self):
        """Rows in the events table (falls back to the API's accepted error count)."""
        try:
            if self.database_url:
                out = subprocess.run(["psql", "-At", self.database_url, "-c", "select count(*) from events"],
                                     capture_output=True, text=True, check=True).stdout
            else:
                out = subprocess.run(["sqlite3", os.path.join(self.data, "lookout.db"),
                                      "select count(*) from events"],
                                     capture_output=True, text=True, check=True).stdout
            return int(out.strip())
        except (OSError, subprocess.CalledProcessError, ValueError):
            stats = self.api("/api/v1/projects/app/stats")
            return sum(o["quantity"] for o in stats["outcomes"]
                       if o["outcome"] == "accepted" and o["category"] == "error")

    def accepted(self, category):
        """Items of `category` accepted so far, from the project's outcome counts."""
        stats = self.api("/api/v1/projects/app/stats")
        return sum(o["quantity"] for o in stats["outcomes"]
                   if o["outcome"] == "accepted" and o["category"] == category)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RssSampler:
    def __init__(self, server, every=0.5):
        self.server, self.every = server, every
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(self.server.rss_kib())
            self._stop.wait(self.every)

    def stop(self):
        self._stop.set()
        self._t.join()
        return max(self.samples or [0])


def create_pg_database(url):
    """A fresh database on the server of `url`; returns its URL."""
    name = f"lookout_bench_{os.getpid()}_{int(time.time())}"
    run(["psql", "-q", url, "-c", f"CREATE DATABASE {name}"], stdout=subprocess.DEVNULL)
    u = urllib.parse.urlsplit(url)
    return name, urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, ""))


def drop_pg_database(url, name):
    subprocess.run(["psql", "-q", url, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------- runs

# Whole process by symbol, by thread, and the writer thread alone.
PERF_REPORTS = (
    ["--no-children", "--sort", "dso,symbol", "-g", "none"],
    ["--no-children", "--sort", "comm"],
    ["--no-children", "--comm", "lookout-writer", "--sort", "dso,symbol", "-g", "none"],
)

SPAN_ROUTES = ["GET /", "GET /login", "GET /signup", "GET /api/health", "GET /api/users/:id",
               "POST /api/orders", "GET /dashboard", "GET /api/items", "GET /blog/[slug]", "POST /api/login"]


# Span requests are stamped as a live app's are: in the order they are sent, about this
# many a second (unless a fixed rate is given), each ending a little before it is sent.
SPAN_CLOCK_RATE = 10_000


def span_request(i, now, spread, clock_rate=SPAN_CLOCK_RATE):
    """One raw HTTP request: an envelope with one v2 span container (a request and 4 steps).

    A live app sends each request's spans when it ends, so their start times follow the
    order of sending; `spread` seconds of jitter more (3600 spreads them over the last hour,
    every one in a different minute of the latency roll-ups: the worst case for the writer).
    """
    rng = (i * 2654435761) % (2 ** 32)
    trace = f"{rng:08x}{i:024x}"[-32:]
    seg = f"{i:016x}"[-16:]
    dur = 0.005 + (rng % 997) / 1000.0
    start = now + i / clock_rate - dur - (rng % int(spread * 1000 + 1)) / 1000.0
    status = "error" if rng % 50 == 0 else "ok"
    attrs = {"sentry.op": {"value": "http.server", "type": "string"},
             "sentry.release": {"value": f"web@1.{rng % 3}.0", "type": "string"},
             "sentry.environment": {"value": "production", "type": "string"},
             "http.response.status_code": {"value": 500 if status == "error" else 200, "type": "integer"}}
    items = [{"trace_id": trace, "span_id": seg, "name": SPAN_ROUTES[rng % len(SPAN_ROUTES)],
              "start_timestamp": start, "end_timestamp": start + dur, "is_segment": True,
              "status": status, "attributes": attrs}]
    for j in range(4):
        items.append({"trace_id": trace, "span_id": f"{j:02x}{seg[2:]}", "parent_span_id": seg,
                      "name": ["SELECT users", "render", "fetch /api", "cache get"][j],
                      "start_timestamp": start + dur * j / 5, "end_timestamp": start + dur * (j + 1) / 5,
                      "is_segment": False, "status": "ok",
                      "attributes": {"sentry.op": {"value": "db.query", "type": "string"}}})
    payload = json.dumps({"version": 2, "items": items}, separators=(",", ":"))
    header = json.dumps({"sent_at": datetime.now(timezone.utc).isoformat(),
                         "sdk": {"name": "sentry.javascript.node", "version": "10.20.0"},
                         "trace": {"trace_id": trace, "public_key": KEY, "environment": "production"}},
                        separators=(",", ":"))
    item = json.dumps({"type": "span", "item_count": len(items),
                       "content_type": "application/vnd.sentry.items.span.v2+json"}, separators=(",", ":"))
    body = f"{header}\n{item}\n{payload}\n".encode()
    head = (f"POST /api/{PROJECT_ID}/envelope/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"
            f"Content-Type: application/x-sentry-envelope\r\nUser-Agent: sentry.javascript.node/10.20.0\r\n"
            f"X-Sentry-Auth: Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.javascript.node/10.20.0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def split_pack(pack, events, spans_per_event, parts, workdir, spread):
    """The first `events` requests of `pack`, each followed by `spans_per_event` span
    requests, dealt round-robin into `parts` packs (one per instance). Returns the packs and
    the number of requests in all."""
    now = time.time()
    n = 0
    outs = [open(os.path.join(workdir, f"saturate-{i}.pack"), "wb") for i in range(parts)]
    with open(pack, "rb") as src:
        for e in range(events):
            size = src.readline()
            if not size:
                break
            dst = outs[e % parts]
            dst.write(size)
            dst.write(src.read(int(size)))
            for _ in range(spans_per_event):
                r = span_request(n, now, spread)
                n += 1
                dst.write(b"%d\n" % len(r))
                dst.write(r)
    for o in outs:
        o.close()
    return [o.name for o in outs], events * (1 + spans_per_event)


def write_span_pack(path, count, rate, spread):
    """`count` span requests for a fixed-rate stream of `rate` envelopes/s."""
    now = time.time()
    with open(path, "wb") as out:
        for i in range(count):
            r = span_request(i, now, spread, clock_rate=rate)
            out.write(b"%d\n" % len(r))
            out.write(r)
    return path


def fleet_cpu(fleet):
    """{thread name: CPU seconds} summed over the instances."""
    out = {}
    for s in fleet:
        for name, secs in s.cpu_by_thread().items():
            out[name] = out.get(name, 0.0) + secs
    return out


def saturate(fleet, shared, packs, count, concurrency, duration):
    """wrk + replay.lua over the first `count` requests, as replay.py runs it: one wrk per
    instance, each with its own pack and an equal share of the connections and budget."""
    procs = []
    for i, (server, pack) in enumerate(zip(fleet, packs)):
        out_json = os.path.join(server.workdir, f"wrk-{i}.json")
        cmd = ["wrk", "-t", "1", "-c", str(max(1, concurrency // len(fleet))), "-d", f"{duration}s",
               "--timeout", "30s", "-s", os.path.join(shared, "replay.lua"), server.url, "--", pack,
               str(count // len(fleet)), "1"]
        log("$ " + " ".join(cmd))
        procs.append((out_json, subprocess.Popen(cmd, env=dict(os.environ, REPLAY_OUT_JSON=out_json),
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    hard = time.monotonic() + duration + 120
    while any(p.poll() is None for _, p in procs):
        for out_json, p in procs:
            # wrk sleeps for the whole -d even after the request budget is spent
            if p.poll() is None and os.path.exists(f"{out_json}.done.0"):
                p.send_signal(signal.SIGINT)
        if time.monotonic() > hard:
            for _, p in procs:
                p.kill()
            break
        time.sleep(0.05)
    runs = []
    for out_json, p in procs:
        out, err = p.communicate(timeout=120)
        if not os.path.exists(out_json) or not os.path.getsize(out_json):
            sys.exit(f"wrk failed ({p.returncode}): {err}{out}")
        with open(out_json) as f:
            runs.append(json.load(f))
    statuses = {}
    for r in runs:
        for k, v in r["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    ok = sum(v for k, v in statuses.items() if 200 <= int(k) < 300)
    active = max(r["active_s"] or r["duration_us"] / 1e6 for r in runs)
    responses = sum(r["responses"] for r in runs)
    # With several instances each wrk has its own distribution: the worst of each
    # percentile is reported (an upper bound of the fleet's).
    lat = {k: max(r["latency_us"][k] for r in runs) / 1000 for k in ("p50", "p90", "p99", "p999", "max")}
    return {
        "active_s": active, "sent": sum(r["sent"] for r in runs), "responses": responses,
        "statuses": statuses, "socket_errors": [r["errors"] for r in runs], "accepted_2xx": ok,
        "accepted_per_s": ok / active if active else 0.0,
        "latency_ms": lat,
        "budget_exhausted": responses >= count,
    }


def fixed_rate(server, loadgen, pack, skip, rate, duration, connections):
    out_json = os.path.join(server.workdir, "loadgen.json")
    run([loadgen, "--pack", pack, "--addr", server.addr, "--rate", str(rate), "--duration", str(duration),
         "--skip", str(skip), "--connections", str(connections), "--json-out", out_json],
        stdout=subprocess.DEVNULL)
    with open(out_json) as f:
        return json.load(f)


# ------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", metavar="URL", help="run on this PostgreSQL server (a fresh database is created)")
    ap.add_argument("--duration", type=int, default=60, help="saturating run, seconds (bound)")
    ap.add_argument("--concurrency", type=int, default=256,
                    help="saturating run connections (senders at once); each waits for its group commit")
    ap.add_argument("--saturation-requests", type=int, default=720_000,
                    help="request budget of the saturating run (each request is unique; bound)")
    ap.add_argument("--spans", type=int, default=0, metavar="K",
                    help="saturating run: K span envelopes (v2, 5 spans, one a request) after each event")
    ap.add_argument("--span-rate", type=int, default=0, metavar="N",
                    help="saturating run: beside the events, `loadgen` sends N span envelopes/s at a fixed "
                         "rate (a traced app's steady request stream while errors saturate lookout)")
    ap.add_argument("--span-spread", type=float, default=2.0, metavar="SECS",
                    help="with --spans: jitter of the spans' start times beyond the order of sending "
                         "(3600: over the last hour, each in its own minute row; the writer's worst case)")
    ap.add_argument("--instances", type=int, default=1,
                    help="with --postgres: this many lookout instances on the one database; the "
                         "saturating run sends to all of them (the fixed-rate run to the first)")
    ap.add_argument("--rate", type=int, default=2000, help="fixed-rate run, events/s")
    ap.add_argument("--rate-duration", type=int, default=30, help="fixed-rate run, seconds")
    ap.add_argument("--rate-connections", type=int, default=64)
    ap.add_argument("--shared-bench", default=os.path.join(REPO, "..", "shared", "bench"))
    ap.add_argument("--corpus", default=os.path.join(CACHE, "sentry-corpus"))
    ap.add_argument("--skip-build", action="store_true", help="use the existing target/release binaries")
    ap.add_argument("--perf", type=int, metavar="SECS",
                    help="also profile lookout with perf for SECS s of the saturating run")
    ap.add_argument("--json-out", help="write the results here (default bench/results/ingest-<backend>-<time>.json)")
    args = ap.parse_args()
    if args.instances > 1 and not args.postgres:
        sys.exit("--instances needs --postgres: several instances share one PostgreSQL database")
    if args.instances < 1:
        sys.exit("--instances must be at least 1")
    if args.span_rate and (args.spans or args.instances > 1):
        sys.exit("--span-rate goes alone: not with --spans or --instances")
    shared = os.path.abspath(args.shared_bench)
    if not os.path.exists(os.path.join(shared, "replay.py")):
        sys.exit(f"no replay.py in {shared}: pass --shared-bench")
    for tool in ("wrk", "sqlite3") + (("psql",) if args.postgres else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install -y {'postgresql-client' if tool == 'psql' else tool})")

    if not args.skip_build:
        run(["cargo", "build", "--release", "-p", "lookout", "--bin", "lookout", "--example", "loadgen"], cwd=REPO)
    binary = os.path.join(REPO, "target", "release", "lookout")
    loadgen = os.path.join(REPO, "target", "release", "examples", "loadgen")

    py = bench_python()
    corpus = os.path.abspath(args.corpus)
    ensure_corpus(py, shared, corpus)
    rate_requests = args.rate * args.rate_duration
    # wrk may send up to `concurrency` past its budget; a round margin keeps one cached pack
    # good for any concurrency up to 1,000.
    margin = max(1000, args.concurrency + 64)
    # At least 800,000, so that runs with other durations or concurrencies reuse the pack.
    pack = ensure_pack(py, shared, corpus, max(800_000, args.saturation_requests + margin + rate_requests))
    with open(os.path.join(CACHE, "pack.json")) as f:
        pack_total = json.load(f)["requests"]

    backend = "postgresql" if args.postgres else "sqlite"
    pg_name = None
    database_url = None
    if args.postgres:
        pg_name, database_url = create_pg_database(args.postgres)
    workdir = tempfile.mkdtemp(prefix="lookout-bench-")
    sat_count = args.saturation_requests
    sat_packs = [pack]
    if args.spans or args.instances > 1:
        log(f"writing the saturating run's pack(s): {args.spans} span envelope(s) after each event, "
            f"{args.instances} instance(s)")
        sat_packs, sat_count = split_pack(pack, args.saturation_requests + margin, args.spans,
                                          args.instances, workdir, args.span_spread)
        sat_count = min(sat_count, args.saturation_requests * (1 + args.spans))
    span_pack = None
    if args.span_rate:
        log(f"writing {args.span_rate * args.duration} span requests for {args.span_rate}/s beside the events")
        span_pack = write_span_pack(os.path.join(workdir, "spans.pack"), args.span_rate * args.duration,
                                    args.span_rate, args.span_spread)
    server = None
    others = []
    try:
        t_start = time.monotonic()
        server = Server(binary, workdir, database_url)
        for i in range(1, args.instances):
            others.append(Server(binary, os.path.join(workdir, f"instance-{i}"), database_url))
        fleet = [server] + others
        log(f"lookout ({backend}) at {server.url}, pid {server.proc.pid}, started in {time.monotonic() - t_start:.2f}s")
        time.sleep(2)
        idle_rss = server.rss_kib()

        before = server.events_stored()
        cpu_before = fleet_cpu(fleet)
        sampler = RssSampler(server)
        perf_box = {}
        perf_thread = None
        if args.perf:
            secs = min(args.perf, args.duration)
            perf_thread = threading.Thread(
                target=lambda: perf_box.setdefault("r", profile(
                    server.proc.pid, secs, workdir, reports=PERF_REPORTS, lines=300)), daemon=True)
            perf_thread.start()
        spans_before = server.accepted("span")
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        span_gen = None
        if span_pack:
            span_json = os.path.join(workdir, "span-loadgen.json")
            span_gen = subprocess.Popen(
                [loadgen, "--pack", span_pack, "--addr", server.addr, "--rate", str(args.span_rate),
                 "--duration", str(args.duration), "--connections", str(args.rate_connections),
                 "--json-out", span_json], stdout=subprocess.DEVNULL)
        sat = saturate(fleet, shared, sat_packs, sat_count, args.concurrency, args.duration)
        if span_gen:
            span_gen.wait(timeout=args.duration + 120)
            with open(span_json) as f:
                sat["span_stream"] = json.load(f)
            os.unlink(span_pack)
        cpu_after = fleet_cpu(fleet)
        ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # wrk is a child that has been waited for: its CPU is in RUSAGE_CHILDREN.
        sat["client_cpu_s"] = (ru2.ru_utime + ru2.ru_stime) - (ru.ru_utime + ru.ru_stime)
        time.sleep(0.5)  # acks are commits; this only lets the last responses' rows be counted
        after = server.events_stored()
        sat_peak = sampler.stop()
        if perf_thread:
            perf_thread.join()
        sat["stored"] = after - before
        sat["spans_accepted"] = server.accepted("span") - spans_before
        for p in sat_packs:
            if p != pack:
                os.unlink(p)
        sat["stored_per_s"] = sat["stored"] / sat["active_s"] if sat["active_s"] else 0.0
        sat["peak_rss_kib"] = sat_peak
        # CPU per stored event, whole process and by kind of thread (the writer is one thread:
        # its share is what bounds throughput once the request side is cheap enough).
        cpu = {}
        for name, secs in cpu_after.items():
            kind = "writer" if name == "lookout-writer" else (
                "checkpoint" if name == "lookout-checkpo" else "requests and other")
            cpu[kind] = cpu.get(kind, 0.0) + secs - cpu_before.get(name, 0.0)
        sat["cpu_s"] = cpu
        sat["cpu_us_per_event"] = {k: 1e6 * v / sat["stored"] for k, v in cpu.items()} if sat["stored"] else {}
        sat["profile"] = perf_box.get("r")
        log(f"saturating run: {sat['stored']} events stored in {sat['active_s']:.1f}s")

        before = server.events_stored()
        sampler = RssSampler(server)
        fr = fixed_rate(server, loadgen, pack, pack_total - rate_requests, args.rate, args.rate_duration,
                        args.rate_connections)
        time.sleep(0.5)
        fr["stored"] = server.events_stored() - before
        fr["peak_rss_kib"] = sampler.stop()
        total_events = server.events_stored()
        db_bytes = None
        if not args.postgres:
            db_bytes = sum(os.path.getsize(os.path.join(server.data, n)) for n in os.listdir(server.data)
                           if n.startswith("lookout.db"))
    finally:
        for o in others:
            o.stop()
        if server:
            server.stop()
            # The database is gigabytes after a long run; logs and the profile stay.
            shutil.rmtree(server.data, ignore_errors=True)
        if pg_name:
            drop_pg_database(args.postgres, pg_name)

    with open(os.path.join(corpus, "manifest.json")) as f:
        manifest = json.load(f)
    result = {
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "backend": backend,
        "machine": {"cpus": os.cpu_count(), "note": "load generators share the CPUs with the server"},
        "corpus": {"envelopes": manifest["envelopes"], "sentry_sdk": manifest["sentry_sdk_version"],
                   "kinds": "events (exception, message, log_error)"},
        "idle_rss_mib": idle_rss / 1024,
        "instances": args.instances,
        "span_envelopes_per_event": args.spans,
        "span_envelopes_per_s": args.span_rate or None,
        "span_spread_s": args.span_spread if args.spans or args.span_rate else None,
        "saturating": sat,
        "fixed_rate": fr,
        "events_in_db": total_events,
        "sqlite_bytes": db_bytes,
        "command": " ".join([os.path.relpath(os.path.join(HERE, "ingest.sh"), os.getcwd())] + sys.argv[1:]),
    }
    out = args.json_out or os.path.join(HERE, "results", f"ingest-{backend}-{time.strftime('%Y%m%dT%H%M%S')}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)

    lat, frl = sat["latency_ms"], fr["latency_ms"]
    ended = "request budget used up" if sat["budget_exhausted"] else "time bound"
    rows = [
        ("backend", backend),
        ("machine", f"{os.cpu_count()} CPUs, shared by server and load generator (figures are a floor)"),
        ("idle RSS", f"{idle_rss / 1024:.1f} MiB"),
        ("instances", f"{args.instances} on one database" if args.instances > 1 else "1"),
        ("saturating: client", f"wrk c={args.concurrency}, {sat['active_s']:.1f} s ({ended}), "
                               f"{sat['responses']} responses, statuses {sat['statuses']}"),
        ("saturating: stored events/s", f"{sat['stored_per_s']:.0f}  ({sat['stored']} rows added)"),
        ("saturating: accepted/s (2xx)", f"{sat['accepted_per_s']:.0f}"
                                         + (f" requests, with {sat['spans_accepted']} spans accepted "
                                            f"({args.spans} span envelope(s) per event)" if args.spans else "")),
        *([("saturating: span stream", f"{sat['span_stream']['achieved_per_s']:.0f} envelopes/s sent by loadgen "
                                         f"({args.span_rate}/s asked), statuses {sat['span_stream']['statuses']}, "
                                         f"{sat['spans_accepted']} spans accepted; latency p50 "
                                         f"{sat['span_stream']['latency_ms']['p50']:.2f} ms, p99 "
                                         f"{sat['span_stream']['latency_ms']['p99']:.2f} ms")]
          if "span_stream" in sat else []),
        ("saturating: latency", f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.1f} ms"),
        ("saturating: CPU per event", ", ".join(f"{k} {v:.0f} µs" for k, v in sat["cpu_us_per_event"].items())
                                      + f" (total {sum(sat['cpu_us_per_event'].values()):.0f} µs); "
                                      f"wrk {1e6 * sat['client_cpu_s'] / max(1, sat['responses']):.0f} µs per request"),
        ("saturating: peak RSS", f"{sat_peak / 1024:.1f} MiB"),
        (f"fixed {args.rate}/s: sent", f"{fr['completed']} in {fr['duration_s']:.1f} s = {fr['achieved_per_s']:.0f}/s, "
                                       f"statuses {fr['statuses']}, errors {fr['errors']}, stored {fr['stored']}"),
        (f"fixed {args.rate}/s: latency", f"p50 {frl['p50']:.2f} ms, p99 {frl['p99']:.2f} ms, max {frl['max']:.1f} ms "
                                          f"(from due time; late starts {fr['late_starts']})"),
        (f"fixed {args.rate}/s: peak RSS", f"{fr['peak_rss_kib'] / 1024:.1f} MiB"),
        ("events in DB at end", f"{total_events}" + (f" ({db_bytes / 1e6:.1f} MB SQLite)" if db_bytes else "")),
    ]
    w = max(len(r[0]) for r in rows)
    print()
    print("=" * 100)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    print("=" * 100)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
