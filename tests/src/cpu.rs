//! A process's CPU time, for the benchmarks that measure what the hub spends: user plus system
//! time from `/proc/<pid>/stat`, and the share of one core over a window.

use std::time::Duration;

/// User plus system CPU time of process `pid`, in clock ticks (`/proc/<pid>/stat` fields 14, 15).
pub fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')').expect("stat has a command name").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("run getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("CLK_TCK")
}

/// Process `pid`'s CPU over the next `seconds`, in percent of one core.
pub fn percent(pid: u32, seconds: u64, hz: u64) -> f64 {
    let before = ticks(pid);
    std::thread::sleep(Duration::from_secs(seconds));
    let used = ticks(pid) - before;
    used as f64 * 100.0 / (seconds * hz) as f64
}
