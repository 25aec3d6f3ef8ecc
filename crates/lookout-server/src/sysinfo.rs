//! Memory figures for the health check, read from the kernel.

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
