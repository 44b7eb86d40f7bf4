//! The scenarios every side runs: what each measures, its sizes, and its units.
//!
//! A scenario has parameters (how many processes, messages, keys) at full size and at `--quick`
//! size, and one or more metrics: the numbers one run reports, in order. Every side gets the same
//! parameters and prints its metrics in the same units, so the numbers line up.

/// Whether a bigger number is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// One number a scenario reports.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Short id, unique over the suite: `spawn`, `spawn-memory`.
    pub id: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// The target against Erlang/OTP, as Grove's advantage (how many times better Grove
    /// must do); `None` where the suite sets none. Against every Rust peer the target is always
    /// to be ahead (an advantage of at least 1).
    pub erlang_target: Option<f64>,
    /// A target for Grove's own value, in the metric's unit: at least this when higher is
    /// better, at most this when lower is (the distribution targets are of this kind).
    pub goal: Option<f64>,
}

impl Metric {
    /// This metric with a target advantage over Erlang/OTP.
    const fn target(self, advantage: f64) -> Metric {
        Metric {
            erlang_target: Some(advantage),
            ..self
        }
    }

    /// This metric with a target for Grove's own value.
    const fn goal(self, value: f64) -> Metric {
        Metric {
            goal: Some(value),
            ..self
        }
    }
}

/// A workload, as every side runs it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The name used on command lines (`--only`) and passed to the other sides.
    pub name: &'static str,
    /// What it does, for the table.
    pub what: &'static str,
    /// The scenario name the Erlang and peer programs know it by (several Grove scenarios share
    /// one with different parameters).
    pub program: &'static str,
    pub full: &'static [u64],
    pub quick: &'static [u64],
    pub metrics: &'static [Metric],
}

impl Scenario {
    pub fn params(&self, quick: bool) -> &'static [u64] {
        if quick {
            self.quick
        } else {
            self.full
        }
    }
}

const fn higher(id: &'static str, unit: &'static str) -> Metric {
    Metric {
        id,
        unit,
        better: Better::Higher,
        erlang_target: None,
        goal: None,
    }
}

const fn lower(id: &'static str, unit: &'static str) -> Metric {
    Metric {
        id,
        unit,
        better: Better::Lower,
        erlang_target: None,
        goal: None,
    }
}

/// Table size for the table scenarios: 2^20 ("1M"), a power of two so that every side walks the
/// same scattered key order.
pub const TABLE_KEYS: u64 = 1 << 20;

/// The kit's scenarios: measured against the bare crate under each piece (the "bare" side), to
/// show what the wrapper costs, rather than against targets.
pub const KIT: &[&str] = &["cache-hit", "cache-fetch", "limiter-check", "breaker-call"];

/// True for a metric of a kit scenario.
pub fn is_kit_metric(metric: &str) -> bool {
    KIT.contains(&metric)
}

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "spawn",
        what: "spawn 1,000,000 processes that wait in receive",
        program: "spawn",
        full: &[1_000_000],
        quick: &[10_000],
        metrics: &[
            higher("spawn", "processes/s").target(5.0),
            lower("spawn-memory", "bytes per process")
                .target(3.0)
                .goal(500.0),
        ],
    },
    Scenario {
        name: "ring",
        what: "10,000 processes in a ring, a token passed 1,000 times around",
        program: "ring",
        full: &[10_000, 1_000],
        quick: &[1_000, 10],
        metrics: &[higher("ring", "messages/s").target(2.5)],
    },
    Scenario {
        name: "ping-pong",
        what: "1,000,000 request/reply round trips between two processes",
        program: "ping-pong",
        full: &[1_000_000],
        quick: &[10_000],
        metrics: &[lower("ping-pong", "ns per round trip").target(2.5)],
    },
    Scenario {
        name: "fan-in-2",
        what: "2 senders, 1,000,000 messages each, into one receiver",
        program: "fan-in",
        full: &[2, 1_000_000],
        quick: &[2, 10_000],
        metrics: &[higher("fan-in-2", "messages/s").target(2.5)],
    },
    Scenario {
        name: "fan-in-8",
        what: "8 senders, 1,000,000 messages each, into one receiver",
        program: "fan-in",
        full: &[8, 1_000_000],
        quick: &[8, 10_000],
        metrics: &[higher("fan-in-8", "messages/s").target(2.5)],
    },
    Scenario {
        name: "call",
        what: "1,000,000 sequential GenServer calls",
        program: "call",
        full: &[1_000_000],
        quick: &[10_000],
        metrics: &[lower("call", "ns per call").target(4.0)],
    },
    Scenario {
        name: "call-4",
        what: "4 callers x 250,000 calls to one GenServer",
        program: "call-n",
        full: &[4, 250_000],
        quick: &[4, 2_500],
        metrics: &[higher("call-4", "calls/s").target(4.0)],
    },
    Scenario {
        name: "cast",
        what: "4,000,000 casts to one GenServer, then a call that waits for them",
        program: "cast",
        full: &[4_000_000],
        quick: &[40_000],
        metrics: &[higher("cast", "casts/s")],
    },
    Scenario {
        name: "restart",
        what: "10,000 children under one_for_one, all killed, until all are back",
        program: "restart",
        full: &[10_000],
        quick: &[100],
        metrics: &[lower("restart", "us per child").target(10.0)],
    },
    Scenario {
        name: "registry",
        what: "register 100,000 names (one per process) and look each up",
        program: "registry",
        full: &[100_000],
        quick: &[1_000],
        metrics: &[higher("registry", "operations/s")],
    },
    Scenario {
        name: "table-insert",
        what: "1M inserts into a set table, scattered keys",
        program: "table-insert",
        full: &[TABLE_KEYS],
        quick: &[1 << 13],
        metrics: &[higher("table-insert", "inserts/s").target(5.0)],
    },
    Scenario {
        name: "table-lookup-1",
        what: "4M lookups in a 1M-key set, one reader",
        program: "table-lookup",
        full: &[TABLE_KEYS, 1],
        quick: &[1 << 13, 1],
        metrics: &[higher("table-lookup-1", "lookups/s").target(5.0)],
    },
    Scenario {
        name: "table-lookup-2",
        what: "4M lookups each from two concurrent readers, 1M-key set",
        program: "table-lookup",
        full: &[TABLE_KEYS, 2],
        quick: &[1 << 13, 2],
        metrics: &[higher("table-lookup-2", "lookups/s").target(5.0)],
    },
    Scenario {
        name: "table-counter",
        what: "update_counter on one key, 2 writers x 1,000,000",
        program: "table-counter",
        full: &[2, 1_000_000],
        quick: &[2, 10_000],
        metrics: &[higher("table-counter", "updates/s").target(5.0)],
    },
    Scenario {
        name: "table-range",
        what: "10,000 range scans of 1,000 keys in a 1M-key ordered set",
        program: "table-range",
        full: &[TABLE_KEYS, 10_000],
        quick: &[1 << 13, 100],
        metrics: &[higher("table-range", "objects/s").target(5.0)],
    },
    Scenario {
        name: "cache-hit",
        what: "4,000,000 cache gets that hit, over 1,024 keys (Grove's Cache; bare: moka)",
        program: "cache-hit",
        full: &[1024, 4_000_000],
        quick: &[1024, 10_000],
        metrics: &[lower("cache-hit", "ns per get")],
    },
    Scenario {
        name: "cache-fetch",
        what: "2,000 herds of 32 concurrent fetches of one missing key, one load each (bare: moka's try_get_with)",
        program: "cache-fetch",
        full: &[2_000, 32],
        quick: &[20, 32],
        metrics: &[lower("cache-fetch", "us per herd")],
    },
    Scenario {
        name: "limiter-check",
        what: "10,000,000 rate limiter checks that pass (Grove's RateLimiter; bare: governor)",
        program: "limiter-check",
        full: &[10_000_000],
        quick: &[10_000],
        metrics: &[lower("limiter-check", "ns per check")],
    },
    Scenario {
        name: "breaker-call",
        what: "4,000,000 calls through a closed circuit breaker (bare: the call alone)",
        program: "breaker-call",
        full: &[4_000_000],
        quick: &[10_000],
        metrics: &[lower("breaker-call", "ns per call")],
    },
    Scenario {
        name: "dist-send",
        what: "1,000,000 small messages from a process to one on another node (loopback, no TLS), the sender paced by the connection",
        program: "dist-send",
        full: &[1_000_000, 0],
        quick: &[10_000, 0],
        metrics: &[
            higher("dist-send", "messages/s").goal(1_000_000.0),
            lower("dist-send-sealing", "% of a send spent sealing records").goal(10.0),
        ],
    },
    Scenario {
        name: "dist-send-tls",
        what: "dist-send over mutual TLS (Erlang: TLS distribution needs the ssl application, not in erlang-base)",
        program: "dist-send",
        full: &[1_000_000, 1],
        quick: &[10_000, 1],
        metrics: &[higher("dist-send-tls", "messages/s")],
    },
    Scenario {
        name: "dist-call",
        what: "20,000 sequential GenServer calls to another node (no TLS); then as many 8-byte TCP round trips between the same two OS processes",
        program: "dist-call",
        full: &[20_000, 0],
        quick: &[500, 0],
        metrics: &[
            lower("dist-call", "us per call"),
            lower("dist-call-tcp", "us per TCP round trip"),
            lower("dist-call-vs-tcp", "call / TCP round trip").goal(1.3),
            lower("dist-call-sealing", "% of a call spent sealing records").goal(10.0),
        ],
    },
    Scenario {
        name: "dist-call-tls",
        what: "dist-call over mutual TLS (the TCP round trip stays plain)",
        program: "dist-call",
        full: &[20_000, 1],
        quick: &[500, 1],
        metrics: &[
            lower("dist-call-tls", "us per call"),
            lower("dist-call-tls-tcp", "us per TCP round trip"),
            lower("dist-call-tls-vs-tcp", "call / TCP round trip"),
        ],
    },
    Scenario {
        name: "dist-detect-kill",
        what: "the other node killed (SIGKILL): ms from running kill until monitor_node fires",
        program: "dist-detect",
        full: &[9, 60, 0],
        quick: &[9, 60, 0],
        metrics: &[lower("dist-detect-kill", "ms")],
    },
    Scenario {
        name: "dist-detect-hang",
        what: "the other node hung (SIGSTOP): ms until monitor_node fires, each side's default failure detector (Erlang: net_ticktime 60 s; 2 s with --quick)",
        program: "dist-detect",
        full: &[19, 60, 0],
        quick: &[19, 2, 0],
        metrics: &[lower("dist-detect-hang", "ms").goal(2000.0)],
    },
    Scenario {
        name: "durable",
        what: "durable table inserts: one per commit, and in commits of 1,000",
        program: "durable",
        full: &[200, 200_000],
        quick: &[20, 2_000],
        metrics: &[
            higher("durable-single", "inserts/s"),
            higher("durable-batched", "inserts/s"),
        ],
    },
];
