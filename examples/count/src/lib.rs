//! Counts events per process and prints a summary when the session ends, SystemTap's
//!
//! ```text
//! global hits; probe kprobe.function("tcp_v4_connect") { hits[pid(), execname()]++ }
//! probe end { foreach ([p, e] in hits-) printf("pid %d (%s): %d\n", p, e, hits[p, e]) }
//! ```
//!
//! with state kept in the handler's own memory:
//!
//! ```text
//! pid 4859 (curl): 12
//! pid 977 (sshd): 3
//! total: 15
//! ```
//!
//! `--arg exit_after=N` ends the session after N events, as SystemTap's
//! `if (++n == N) exit()`: the batch in progress finishes, then the summary prints.
use std::collections::HashMap;
use wprobe_sdk::prelude::*;

#[derive(Default)]
struct Count {
    /// pid → (events, command name at the first event).
    hits: HashMap<u32, (u64, String)>,
    seen: u64,
    exit_after: Option<u64>,
}

impl Handler for Count {
    fn init(session: &Session) -> Result<Self, String> {
        let exit_after = match session.arg("exit_after") {
            Some(n) => Some(n.parse().map_err(|_| format!("--arg exit_after={n}: expected a number of events"))?),
            None => None,
        };
        Ok(Count { exit_after, ..Count::default() })
    }

    fn event(&mut self) -> Result<(), Error> {
        // The name is copied only the first time a pid shows up.
        self.hits.entry(pid()).or_insert_with(|| (0, execname().to_string())).0 += 1;
        self.seen += 1;
        if Some(self.seen) == self.exit_after {
            exit();
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        let mut rows: Vec<_> = self.hits.iter().collect();
        rows.sort_by(|(pid_a, (n_a, _)), (pid_b, (n_b, _))| n_b.cmp(n_a).then(pid_a.cmp(pid_b)));
        for (pid, (n, name)) in &rows {
            printf!("pid {pid} ({name}): {n}\n");
        }
        printf!("total: {}\n", rows.iter().map(|(_, (n, _))| n).sum::<u64>());
        Ok(())
    }
}

wprobe_sdk::handler!(Count);
