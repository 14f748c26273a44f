//! Reads the guest's result markers (`@@wprobe-vm KIND …`, written by tests/vm/init.sh) out
//! of the console log.

use std::collections::BTreeMap;

pub const MARK: &str = "@@wprobe-vm ";

/// Everything the guest reported.
#[derive(Debug, Default)]
pub struct Guest {
    /// `info KEY VALUE`: kernel release, number of CPUs.
    pub info: BTreeMap<String, String>,
    /// Scenarios in the order they began.
    pub scenarios: Vec<Scenario>,
    /// The guest reached its end (`done`) before powering off.
    pub done: bool,
    /// `cmd-exit STATUS` of `cargo xtask vm`'s command.
    pub command_status: Option<i32>,
}

#[derive(Debug, Default)]
pub struct Scenario {
    pub name: String,
    pub facts: BTreeMap<String, String>,
    /// wprobe invocations by label, in order.
    pub runs: Vec<Run>,
    /// The scenario's script finished (`end`).
    pub ended: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Run {
    pub label: String,
    /// The command line, as the guest's shell saw it.
    pub command: String,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    pub exit: Option<i32>,
    pub seconds: Option<f64>,
    /// Kprobes, trace events or BPF pins still present after the run.
    pub leftovers: Vec<String>,
    /// How many lines it wrote to stdout (the guest shows at most 2000).
    pub stdout_lines: Option<usize>,
    /// What the step time-out's watchdog did to it.
    pub killed: Vec<String>,
}

impl Scenario {
    pub fn run(&self, label: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.label == label)
    }

    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts.get(key).map(|s| s.as_str())
    }

    fn run_mut(&mut self, label: &str) -> &mut Run {
        if let Some(i) = self.runs.iter().position(|r| r.label == label) {
            return &mut self.runs[i];
        }
        self.runs.push(Run { label: label.to_string(), ..Run::default() });
        self.runs.last_mut().unwrap()
    }
}

impl Guest {
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    fn scenario_mut(&mut self, name: &str) -> &mut Scenario {
        if let Some(i) = self.scenarios.iter().position(|s| s.name == name) {
            return &mut self.scenarios[i];
        }
        self.scenarios.push(Scenario { name: name.to_string(), ..Scenario::default() });
        self.scenarios.last_mut().unwrap()
    }
}

pub fn parse(console: &str) -> Guest {
    let mut g = Guest::default();
    for line in console.lines() {
        let Some(at) = line.find(MARK) else { continue };
        let rest = &line[at + MARK.len()..];
        let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match kind {
            "done" => g.done = true,
            "info" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                g.info.insert(k.to_string(), v.to_string());
            }
            "cmd-exit" => g.command_status = rest.trim().parse().ok(),
            "begin" => {
                g.scenario_mut(rest.trim());
            }
            "end" => g.scenario_mut(rest.trim()).ended = true,
            "fact" => {
                let mut p = rest.splitn(3, ' ');
                let (s, k, v) = (p.next().unwrap_or(""), p.next().unwrap_or(""), p.next().unwrap_or(""));
                g.scenario_mut(s).facts.insert(k.to_string(), v.trim().to_string());
            }
            "run" | "out" | "err" | "exit" | "time" | "left" | "lines" | "killed" => {
                let mut p = rest.splitn(3, ' ');
                let (s, label, text) = (p.next().unwrap_or(""), p.next().unwrap_or(""), p.next().unwrap_or(""));
                let run = g.scenario_mut(s).run_mut(label);
                match kind {
                    "run" => run.command = text.to_string(),
                    "out" => run.stdout.push(text.to_string()),
                    "err" => run.stderr.push(text.to_string()),
                    "exit" => run.exit = text.trim().parse().ok(),
                    "time" => run.seconds = text.trim().parse().ok(),
                    "lines" => {
                        if let Some(n) = text.strip_prefix("out ") {
                            run.stdout_lines = n.trim().parse().ok();
                        }
                    }
                    "killed" => run.killed.push(text.to_string()),
                    _ => run.leftovers.push(text.to_string()),
                }
            }
            _ => {}
        }
    }
    g
}

/// Kernel trouble in the log: a panic, an oops, a BUG or a WARN splat.
pub fn kernel_trouble(console: &str) -> Vec<String> {
    const SIGNS: [&str; 6] =
        ["Kernel panic", "BUG:", "Oops:", "WARNING: CPU:", "general protection fault", "Call Trace:"];
    console
        .lines()
        .filter(|l| !l.contains(MARK) && SIGNS.iter().any(|s| l.contains(s)))
        .map(|l| l.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let log = "\
[    1.0] random kernel line
@@wprobe-vm info kernel 6.1.0-56-amd64
@@wprobe-vm begin tcp-connect
@@wprobe-vm run tcp-connect main wprobe run /handlers/x.wasm --kprobe f
@@wprobe-vm out tcp-connect main   two, spaces
@@wprobe-vm err tcp-connect main summary: 1 event
@@wprobe-vm exit tcp-connect main 0
@@wprobe-vm time tcp-connect main 1.5
@@wprobe-vm lines tcp-connect main out 1
@@wprobe-vm killed tcp-connect main SIGTERM after the 30 s step time-out
@@wprobe-vm left tcp-connect main /sys/kernel/debug/kprobes/list: ffff k f+0x0
@@wprobe-vm fact tcp-connect pid 93
@@wprobe-vm end tcp-connect
@@wprobe-vm done
";
        let g = parse(log);
        assert!(g.done);
        assert_eq!(g.info["kernel"], "6.1.0-56-amd64");
        let s = g.scenario("tcp-connect").unwrap();
        assert!(s.ended);
        assert_eq!(s.fact("pid"), Some("93"));
        let r = s.run("main").unwrap();
        assert_eq!(r.command, "wprobe run /handlers/x.wasm --kprobe f");
        assert_eq!(r.stdout, ["  two, spaces"]);
        assert_eq!(r.stderr, ["summary: 1 event"]);
        assert_eq!(r.exit, Some(0));
        assert_eq!(r.seconds, Some(1.5));
        assert_eq!(r.stdout_lines, Some(1));
        assert_eq!(r.killed, ["SIGTERM after the 30 s step time-out"]);
        assert_eq!(r.leftovers.len(), 1);
        assert!(kernel_trouble(log).is_empty());
        assert_eq!(kernel_trouble("[ 2.0] Kernel panic - not syncing: x\n").len(), 1);
    }
}
