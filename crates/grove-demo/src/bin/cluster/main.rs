//! Grove's cluster demo: three nodes as OS processes on loopback, over mutual TLS.
//!
//! ```text
//! cargo run --release -p grove-demo --bin cluster
//! ```
//!
//! The demo makes a development CA and node certificate (as `grove-node certs` does) and a random
//! cluster secret, then starts three nodes, `n1`, `n2` and `n3`, each one this same binary run as
//! `cluster node ...`. They find each other through a static peer list. Every node calls a
//! `tally` GenServer on each other node five times a second and sends a greeting to each one's
//! `inbox`: a call and a send across nodes, with the same API as locally. After four seconds the
//! demo kills `n3` with SIGKILL; `n1` and `n2` see the connection drop (their monitors of n3's
//! tally fire `noconnection`) and carry on calling each other. Three seconds later n3 starts
//! again, with a new creation, and rejoins. The demo checks those claims and exits 1 if one does
//! not hold.

mod node;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cluster",
    about = "Three Grove nodes over TLS; one is killed and comes back"
)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Subcommand)]
enum Role {
    /// Runs one node (the demo starts three of these).
    Node {
        #[arg(long)]
        name: String,
        #[arg(long)]
        port: u16,
        /// Comma-separated host:port of the other nodes.
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        /// The directory with ca.pem, node.pem and node-key.pem.
        #[arg(long)]
        certs: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().role {
        Some(Role::Node {
            name,
            port,
            peers,
            certs,
        }) => {
            let reason = node::run(node::NodeArgs {
                name,
                port,
                peers,
                certs,
            });
            if reason.is_clean() {
                ExitCode::SUCCESS
            } else {
                eprintln!("node stopped: {reason}");
                ExitCode::FAILURE
            }
        }
        None => orchestrate(),
    }
}

struct Member {
    name: String,
    port: u16,
    child: Option<Child>,
}

/// What one node printed, as the orchestrator saw it.
enum Line {
    Status { calls_ok: u64, peers: usize },
    Up { node: String, creation: String },
    Down { node: String },
    Other,
}

fn parse(line: &str) -> Line {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("STATUS"), _, _) => {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            Line::Status {
                calls_ok: field("calls_ok="),
                peers: field("peers=") as usize,
            }
        }
        (Some("EVENT"), Some("up"), Some(node)) => Line::Up {
            node: node.to_string(),
            creation: words.next().unwrap_or("").to_string(),
        },
        (Some("EVENT"), Some("down"), Some(node)) => Line::Down {
            node: node.to_string(),
        },
        _ => Line::Other,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn orchestrate() -> ExitCode {
    let dir = std::env::temp_dir().join(format!("grove-cluster-demo-{}", std::process::id()));
    if let Err(error) = grove::node::generate_dev_certs(&dir, &["127.0.0.1".to_string()]) {
        eprintln!("could not make development certificates: {error}");
        return ExitCode::FAILURE;
    }
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find this program to start the nodes");
        return ExitCode::FAILURE;
    };
    let mut members: Vec<Member> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| Member {
            name: format!("{n}@127.0.0.1"),
            port: free_port(),
            child: None,
        })
        .collect();
    let (lines_tx, lines) = mpsc::channel::<(usize, String)>();
    let start = |index: usize, members: &mut Vec<Member>| {
        let peers: Vec<String> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, m)| format!("127.0.0.1:{}", m.port))
            .collect();
        let member = &mut members[index];
        let child = Command::new(&exe)
            .args([
                "node",
                "--name",
                &member.name,
                "--port",
                &member.port.to_string(),
            ])
            .args([
                "--peers",
                &peers.join(","),
                "--certs",
                &dir.to_string_lossy(),
            ])
            .env("GROVE_SECRET", &secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        match child {
            Ok(mut child) => {
                if let Some(stdout) = child.stdout.take() {
                    let tx = lines_tx.clone();
                    std::thread::spawn(move || {
                        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                            let _ = tx.send((index, line));
                        }
                    });
                }
                member.child = Some(child);
                true
            }
            Err(error) => {
                eprintln!("could not start {}: {error}", member.name);
                false
            }
        }
    };

    println!(
        "Three nodes on loopback, mutual TLS (certificates in {}), one cluster secret.",
        dir.display()
    );
    for i in 0..3 {
        if !start(i, &mut members) {
            return ExitCode::FAILURE;
        }
    }
    let began = Instant::now();
    let at = |secs: f64| began + Duration::from_secs_f64(secs);
    let (kill_at, restart_at, end_at) = (at(4.0), at(7.0), at(10.5));
    let (mut killed, mut restarted) = (false, false);
    // What the checks need: calls made before the kill, n3's loss seen by n1 and n2, calls
    // still made after it, and n3 seen back with a new creation.
    let mut full_mesh_before = [false; 2];
    let mut saw_down = [false; 2];
    let mut calls = [0u64; 2];
    let mut calls_at_down: [Option<u64>; 2] = [None; 2];
    let mut first_creation: Option<String> = None;
    let mut saw_new_creation = [false; 2];
    loop {
        let now = Instant::now();
        if now >= end_at {
            break;
        }
        if !killed && now >= kill_at {
            killed = true;
            println!("\n==> killing n3 with SIGKILL: n1 and n2 should notice and carry on\n");
            if let Some(child) = members[2].child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if killed && !restarted && now >= restart_at {
            restarted = true;
            println!("\n==> starting n3 again: it rejoins with a new creation\n");
            if !start(2, &mut members) {
                break;
            }
        }
        let wait = [kill_at, restart_at, end_at]
            .into_iter()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(end_at)
            - now;
        let Ok((index, line)) = lines.recv_timeout(wait) else {
            continue;
        };
        let who = &members[index].name;
        let short = who.split('@').next().unwrap_or(who);
        println!("[{short}] {line}");
        if index == 2 {
            continue;
        }
        match parse(&line) {
            Line::Status { calls_ok, peers } => {
                if !killed && peers == 2 && calls_ok > 0 {
                    full_mesh_before[index] = true;
                }
                calls[index] = calls_ok;
            }
            Line::Down { node } if node == members[2].name && killed => {
                saw_down[index] = true;
                calls_at_down[index].get_or_insert(calls[index]);
            }
            Line::Up { node, creation } if node == members[2].name => {
                if !killed {
                    first_creation.get_or_insert(creation);
                } else if first_creation.as_deref().is_some_and(|c| c != creation) {
                    saw_new_creation[index] = true;
                }
            }
            _ => {}
        }
    }
    for member in &mut members {
        if let Some(mut child) = member.child.take() {
            drop(child.stdin.take()); // the node stops when its stdin closes
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let checks = [
        (
            "before the kill, n1 and n2 were connected to both others and their calls succeeded",
            full_mesh_before.iter().all(|ok| *ok),
        ),
        (
            "n1 and n2 saw the connection to n3 drop",
            saw_down.iter().all(|ok| *ok),
        ),
        (
            "n1 and n2 kept making successful calls after n3 died",
            (0..2).all(|i| calls_at_down[i].is_some_and(|at_down| calls[i] > at_down)),
        ),
        (
            "n1 and n2 saw n3 come back with a new creation",
            saw_new_creation.iter().all(|ok| *ok),
        ),
    ];
    println!();
    let mut healthy = true;
    for (claim, held) in checks {
        println!("{} {claim}", if held { "ok  " } else { "FAIL" });
        healthy &= held;
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
