//! Memory figures for the health check and process figures for `/metrics`, read from
//! the kernel.

/// `(used, total)` bytes of the memory this process can use: the cgroup's limit when one
/// is set (containers), else the machine's.
pub fn memory() -> (u64, u64) {
    if let Some(c) = cgroup_memory() {
        return c;
    }
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    let total = field("MemTotal:").unwrap_or(0);
    let available = field("MemAvailable:").unwrap_or(total);
    (total.saturating_sub(available), total)
}

fn cgroup_memory() -> Option<(u64, u64)> {
    let max = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    let total: u64 = max.trim().parse().ok()?;
    let current: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // Page cache counts in memory.current but is reclaimable; leave it out as
    // MemAvailable does.
    let inactive_file = std::fs::read_to_string("/sys/fs/cgroup/memory.stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("inactive_file "))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    Some((current.saturating_sub(inactive_file), total))
}

/// This process's figures, as the standard `process_*` metrics report them; `None` where
/// the kernel does not say (no /proc).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessFigures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// When the process started, Unix seconds.
    pub start_time_seconds: Option<f64>,
}

/// Clock ticks per second in /proc: USER_HZ, 100 on every architecture Linux exports it
/// for.
const TICKS: f64 = 100.0;

/// Reads this process's figures from /proc.
pub fn process() -> ProcessFigures {
    let mut p = ProcessFigures::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // The command name (field 2) may hold spaces; fields after it follow its ')'.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // `rest` starts at field 3 (state): field n is f[n - 3].
            let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(s)) = (num(14), num(15)) {
                p.cpu_seconds = Some((u + s) / TICKS);
            }
            p.virtual_bytes = num(23);
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            });
            if let (Some(b), Some(start)) = (boot, num(22)) {
                p.start_time_seconds = Some(b + start / TICKS);
            }
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        p.resident_bytes = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb * 1024.0);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        p.open_fds = Some(dir.count() as f64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        p.max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
    }
    p
}
