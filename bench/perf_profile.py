"""A perf profile of a running process, shared by the benchmarks."""
import os
import shutil
import subprocess
import time

DEFAULT_REPORTS = (
    ["--no-children", "--sort", "dso,symbol", "-g", "none"],
    ["--no-children", "--sort", "comm"],
    ["--no-children"],
)


def profile(pid, secs, workdir, reports=DEFAULT_REPORTS, lines=400):
    """`perf record -e cpu-clock -g` on `pid` for `secs`; writes the heads of `reports`
    (perf report argument lists) to workdir/perf-report.txt and returns its path, or None."""
    def log(msg):
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    if not shutil.which("perf"):
        log("perf not found: no profile")
        return None
    data = os.path.join(workdir, "perf.data")
    report = os.path.join(workdir, "perf-report.txt")
    log(f"profiling pid {pid} for {secs} s with perf")
    try:
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p", str(pid), "-o", data,
                        "--", "sleep", str(secs)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=secs + 60)
        with open(report, "w") as f:
            for args in reports:
                rep = subprocess.run(["perf", "report", "-i", data, "--stdio", *args],
                                     capture_output=True, text=True, timeout=300).stdout
                f.write(f"#### perf report {' '.join(args)}\n")
                f.write("\n".join(rep.splitlines()[:lines]) + "\n\n")
    except (subprocess.SubprocessError, OSError) as e:
        log(f"perf failed: {e}")
        return None
    log(f"profile: {report}")
    return report
