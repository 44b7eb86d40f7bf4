//! What a suite run found: per scenario, metric and side the samples and their median, min and
//! max, and Grove's ratio to each other side. Printed as a table, and written as JSON, Markdown
//! and an SVG chart of the ratios.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::scenarios::{is_kit_metric, Better, Metric, Scenario};

/// The samples of one metric on one side.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub scenario: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub better: Better,
    /// The target advantage over Erlang/OTP, if the suite sets one.
    pub erlang_target: Option<f64>,
    /// The target for Grove's own value, if the suite sets one.
    pub goal: Option<f64>,
    pub side: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
    pub samples: Vec<f64>,
}

/// How many times better Grove did than `peer` on `metric` (above 1: Grove ahead).
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub metric: &'static str,
    pub peer: String,
    pub grove_advantage: f64,
}

/// How one metric stands against the suite's targets: at least `erlang_target` times better
/// than Erlang/OTP, Grove's own value within `goal`, and ahead of every Rust peer.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub metric: &'static str,
    pub better: Better,
    pub erlang_target: Option<f64>,
    /// The target for Grove's own value, and whether its median meets it.
    pub goal: Option<f64>,
    pub goal_met: Option<bool>,
    /// Grove's median.
    pub grove: f64,
    /// Grove's measured advantage over Erlang/OTP, when Erlang ran it.
    pub vs_erlang: Option<f64>,
    /// Whether the Erlang target is met; `None` without a target or without an Erlang run.
    pub erlang_met: Option<bool>,
    /// The Rust peers that did better than Grove, with Grove's advantage (below 1) over each.
    pub peers_ahead: Vec<(String, f64)>,
    /// How many Rust peers ran it.
    pub peers_compared: usize,
}

impl Target {
    /// True when every target this metric has was measured and met.
    pub fn met(&self) -> bool {
        let erlang = self.erlang_target.is_none() || self.erlang_met == Some(true);
        erlang && self.goal_met != Some(false) && self.peers_ahead.is_empty()
    }

    /// True when it has an Erlang target but Erlang did not run it.
    pub fn not_measured(&self) -> bool {
        self.erlang_target.is_some() && self.erlang_met.is_none()
    }
}

/// Each Grove metric against its targets, in suite order.
pub fn targets(records: &[Record], ratios: &[Ratio]) -> Vec<Target> {
    records
        .iter()
        .filter(|r| r.side == "grove" && !is_kit_metric(r.metric))
        .map(|grove| {
            let mine = || ratios.iter().filter(|r| r.metric == grove.metric);
            let vs_erlang = mine()
                .find(|r| r.peer == "erlang")
                .map(|r| r.grove_advantage);
            let erlang_met = match (grove.erlang_target, vs_erlang) {
                (Some(target), Some(measured)) => Some(measured >= target),
                _ => None,
            };
            let goal_met = grove.goal.map(|goal| match grove.better {
                Better::Higher => grove.median >= goal,
                Better::Lower => grove.median <= goal,
            });
            Target {
                metric: grove.metric,
                better: grove.better,
                erlang_target: grove.erlang_target,
                goal: grove.goal,
                goal_met,
                grove: grove.median,
                vs_erlang,
                erlang_met,
                peers_ahead: mine()
                    .filter(|r| r.peer != "erlang" && r.grove_advantage < 1.0)
                    .map(|r| (r.peer.clone(), r.grove_advantage))
                    .collect(),
                peers_compared: mine().filter(|r| r.peer != "erlang").count(),
            }
        })
        .collect()
}

/// One line per metric: the Erlang target and what was measured, and which peers are ahead.
pub fn target_lines(targets: &[Target]) -> Vec<String> {
    let mut lines = vec![
        "targets: at least the given factor better than Erlang/OTP, Grove's own value within its goal, and ahead of every Rust peer"
            .to_string(),
    ];
    for target in targets {
        let erlang = match (target.erlang_target, target.vs_erlang) {
            (Some(goal), Some(measured)) => format!(
                "{measured:.2}x Erlang (target {goal:.1}x: {})",
                if measured >= goal { "met" } else { "MISSED" }
            ),
            (Some(goal), None) => format!("target {goal:.1}x Erlang: not measured"),
            (None, Some(measured)) => format!("{measured:.2}x Erlang (no target)"),
            (None, None) => "no Erlang run".to_string(),
        };
        let goal = match (target.goal, target.goal_met) {
            (Some(goal), Some(met)) => format!(
                "; Grove {} (goal {}: {})",
                human(target.grove),
                goal_text(target.better, goal),
                if met { "met" } else { "MISSED" }
            ),
            _ => String::new(),
        };
        let peers = if target.peers_compared == 0 {
            "no Rust peer".to_string()
        } else if target.peers_ahead.is_empty() {
            format!("ahead of all {} Rust peers", target.peers_compared)
        } else {
            let behind: Vec<String> = target
                .peers_ahead
                .iter()
                .map(|(peer, advantage)| format!("{peer} {advantage:.2}"))
                .collect();
            format!("BEHIND {}", behind.join(", "))
        };
        lines.push(format!("  {:<16} {erlang}{goal}; {peers}", target.metric));
    }
    lines.push(met_summary(targets));
    lines
}

/// A goal as the bound it sets: `>= 1.00M`, `<= 1.3`.
fn goal_text(better: Better, goal: f64) -> String {
    let bound = match better {
        Better::Higher => ">=",
        Better::Lower => "<=",
    };
    format!("{bound} {}", human(goal))
}

/// What a kit piece costs over the bare crate underneath it.
pub struct WrapperCost {
    pub metric: &'static str,
    pub unit: &'static str,
    /// The medians.
    pub grove: f64,
    pub bare: f64,
    /// How many times worse Grove did (1: free).
    pub cost: f64,
}

/// What each kit piece costs over the bare crate underneath.
pub fn wrapper_costs(records: &[Record]) -> Vec<WrapperCost> {
    records
        .iter()
        .filter(|r| r.side == "grove" && is_kit_metric(r.metric))
        .filter_map(|grove| {
            let bare = records
                .iter()
                .find(|r| r.side == "bare" && r.metric == grove.metric)?;
            let cost = match grove.better {
                Better::Lower => grove.median / bare.median,
                Better::Higher => bare.median / grove.median,
            };
            Some(WrapperCost {
                metric: grove.metric,
                unit: grove.unit,
                grove: grove.median,
                bare: bare.median,
                cost,
            })
        })
        .collect()
}

/// One line per kit metric: what the Grove piece costs over the bare crate.
pub fn wrapper_lines(records: &[Record]) -> Vec<String> {
    let costs = wrapper_costs(records);
    if costs.is_empty() {
        return Vec::new();
    }
    let mut lines =
        vec!["kit: each piece against the bare crate underneath (the wrapper's cost)".to_string()];
    for c in costs {
        lines.push(format!(
            "  {:<16} grove {} vs bare {} {}: {:.2}x",
            c.metric,
            human(c.grove),
            human(c.bare),
            c.unit,
            c.cost
        ));
    }
    lines
}

/// "N of M metrics meet every target."
fn met_summary(targets: &[Target]) -> String {
    let met = targets.iter().filter(|t| t.met()).count();
    let unmeasured = targets.iter().filter(|t| t.not_measured()).count();
    let mut line = format!("{met} of {} metrics meet every target", targets.len());
    if unmeasured > 0 {
        line.push_str(&format!(" ({unmeasured} not measured against Erlang)"));
    }
    line
}

/// Facts about the machine and the run.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub os: String,
    pub otp_release: Option<String>,
    pub erlang_schedulers: Option<u32>,
    pub unix_time: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub quick: bool,
    pub runs: usize,
    pub records: Vec<Record>,
    pub ratios: Vec<Ratio>,
    pub targets: Vec<Target>,
    /// Sides that could not run, and why.
    pub skipped: Vec<String>,
}

pub fn record(scenario: &Scenario, metric: &Metric, side: &str, samples: Vec<f64>) -> Record {
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    Record {
        scenario: scenario.name,
        metric: metric.id,
        unit: metric.unit,
        better: metric.better,
        erlang_target: metric.erlang_target,
        goal: metric.goal,
        side: side.to_string(),
        median,
        min: sorted.first().copied().unwrap_or(f64::NAN),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        runs: samples.len(),
        samples,
    }
}

/// Grove's advantage over each other side, metric by metric.
pub fn ratios(records: &[Record]) -> Vec<Ratio> {
    let mut ratios = Vec::new();
    for grove in records.iter().filter(|r| r.side == "grove") {
        for peer in records
            .iter()
            .filter(|r| r.metric == grove.metric && r.side != "grove")
        {
            let advantage = match grove.better {
                Better::Higher => grove.median / peer.median,
                Better::Lower => peer.median / grove.median,
            };
            if advantage.is_finite() {
                ratios.push(Ratio {
                    metric: grove.metric,
                    peer: peer.side.clone(),
                    grove_advantage: advantage,
                });
            }
        }
    }
    ratios
}

pub fn human(value: f64) -> String {
    if !value.is_finite() {
        "-".to_string()
    } else if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

/// The lines printed for one metric once all its sides have run.
pub fn metric_lines(
    scenario: &Scenario,
    metric: &Metric,
    quick: bool,
    records: &[Record],
) -> Vec<String> {
    let better = match metric.better {
        Better::Higher => "higher is better",
        Better::Lower => "lower is better",
    };
    let size = if quick {
        format!(" [quick: parameters {:?}]", scenario.quick)
    } else {
        String::new()
    };
    let mut lines = vec![format!(
        "{} - {}{size} ({}, {better})",
        metric.id, scenario.what, metric.unit
    )];
    let grove = records
        .iter()
        .find(|r| r.metric == metric.id && r.side == "grove");
    for record in records.iter().filter(|r| r.metric == metric.id) {
        let mut line = format!(
            "  {:<8} {:>10}   (min {}, max {}, {} runs)",
            record.side,
            human(record.median),
            human(record.min),
            human(record.max),
            record.runs
        );
        if let (Some(grove), false) = (grove, record.side == "grove") {
            let advantage = match metric.better {
                Better::Higher => grove.median / record.median,
                Better::Lower => record.median / grove.median,
            };
            let _ = write!(line, "   grove {}", verdict(advantage));
        }
        lines.push(line);
    }
    lines
}

fn verdict(advantage: f64) -> String {
    if advantage >= 1.0 {
        format!("{advantage:.2}x ahead")
    } else {
        format!("{:.2}x behind", 1.0 / advantage)
    }
}

/// Writes `latest.json`, `latest.md` and `ratios.svg` into `dir`.
pub fn write(results: &Results, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("latest.json", &json)?;
    write("latest.md", &markdown(results))?;
    chart(results, &dir.join("ratios.svg"))
}

fn markdown(results: &Results) -> String {
    let sides = side_names(&results.records);
    let machine = &results.machine;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# grove-bench results\n\n{} cores ({}), {}; Erlang/OTP {} with {} schedulers; {} runs per side{}, interleaved.\n",
        machine.cores,
        machine.cpu_model,
        machine.os,
        machine.otp_release.as_deref().unwrap_or("not installed"),
        machine
            .erlang_schedulers
            .map_or("-".to_string(), |n| n.to_string()),
        results.runs,
        if results.quick { " (quick sizes)" } else { "" },
    );
    let _ = writeln!(
        md,
        "Medians. `×` is how many times better Grove did (above 1: Grove ahead).\n"
    );
    let mut header = "| metric | unit |".to_string();
    let mut rule = "|---|---|".to_string();
    for side in &sides {
        let _ = write!(header, " {side} |");
        rule.push_str("---:|");
        if side != "grove" {
            let _ = write!(header, " × {side} |");
            rule.push_str("---:|");
        }
    }
    let _ = writeln!(md, "{header}\n{rule}");
    let mut metrics: Vec<(&str, &str)> = Vec::new();
    for record in &results.records {
        if !metrics.iter().any(|(m, _)| *m == record.metric) {
            metrics.push((record.metric, record.unit));
        }
    }
    for (metric, unit) in metrics {
        let mut row = format!("| {metric} | {unit} |");
        for side in &sides {
            let median = results
                .records
                .iter()
                .find(|r| r.metric == metric && &r.side == side)
                .map(|r| r.median);
            let _ = write!(row, " {} |", median.map_or("-".to_string(), human));
            if side != "grove" {
                let ratio = results
                    .ratios
                    .iter()
                    .find(|r| r.metric == metric && &r.peer == side)
                    .map_or("-".to_string(), |r| format!("{:.2}", r.grove_advantage));
                let _ = write!(row, " {ratio} |");
            }
        }
        let _ = writeln!(md, "{row}");
    }
    let _ = writeln!(
        md,
        "\n## Targets\n\nGrove at least the given factor better than Erlang/OTP, its own value within the goal (where one is set), and ahead of every Rust peer.\n\n| metric | target × erlang | measured × erlang | Erlang target | goal (Grove's own value) | Rust peers ahead of Grove (× each) |\n|---|---:|---:|---|---|---|"
    );
    for target in &results.targets {
        let goal = target
            .erlang_target
            .map_or("-".to_string(), |g| format!("{g:.1}"));
        let measured = target
            .vs_erlang
            .map_or("-".to_string(), |m| format!("{m:.2}"));
        let met = match target.erlang_met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "-",
        };
        let peers = if target.peers_compared == 0 {
            "-".to_string()
        } else if target.peers_ahead.is_empty() {
            "none".to_string()
        } else {
            let behind: Vec<String> = target
                .peers_ahead
                .iter()
                .map(|(peer, advantage)| format!("**{peer}** {advantage:.2}"))
                .collect();
            behind.join(", ")
        };
        let own = match (target.goal, target.goal_met) {
            (Some(goal), Some(true)) => format!("{}: met", goal_text(target.better, goal)),
            (Some(goal), Some(false)) => {
                format!("{}: **missed**", goal_text(target.better, goal))
            }
            _ => "-".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {goal} | {measured} | {met} | {own} | {peers} |",
            target.metric
        );
    }
    let _ = writeln!(md, "\n{}.", met_summary(&results.targets));
    let costs = wrapper_costs(&results.records);
    if !costs.is_empty() {
        let _ = writeln!(
            md,
            "\n## Kit wrappers\n\nEach kit piece against the bare crate underneath it: moka for the cache, governor for the limiter, and the call without a breaker for the breaker. `cost` is Grove's median over the bare one (1.00: free).\n\n| metric | unit | grove | bare | cost |\n|---|---|---:|---:|---:|"
        );
        for c in costs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.2} |",
                c.metric,
                c.unit,
                human(c.grove),
                human(c.bare),
                c.cost
            );
        }
    }
    for skipped in &results.skipped {
        let _ = writeln!(md, "\nSkipped: {skipped}");
    }
    md
}

fn side_names(records: &[Record]) -> Vec<String> {
    let mut sides: Vec<String> = Vec::new();
    for record in records {
        if !sides.contains(&record.side) {
            sides.push(record.side.clone());
        }
    }
    sides
}

/// A horizontal bar per (metric, peer): Grove's advantage on a log scale, 1 marked.
fn chart(results: &Results, path: &Path) -> Result<(), String> {
    // Reversed: the y axis counts upward, and the chart should read top-down in suite order.
    let bars: Vec<(String, f64)> = results
        .ratios
        .iter()
        .rev()
        .map(|r| (format!("{} vs {}", r.metric, r.peer), r.grove_advantage))
        .collect();
    let height = 80 + 22 * bars.len().max(1) as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    let failed = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let top = bars.iter().map(|(_, r)| *r).fold(2.0f64, f64::max).max(1.0) * 1.3;
    let bottom = bars.iter().map(|(_, r)| *r).fold(0.5f64, f64::min).min(1.0) / 1.3;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "How many times better Grove did (log scale; right of 1 = Grove ahead)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(230)
        .build_cartesian_2d(
            (bottom..top).log_scale(),
            (0..bars.len().max(1)).into_segmented(),
        )
        .map_err(|e| failed(&e))?;
    let labels: Vec<String> = bars.iter().map(|(label, _)| label.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&|value| match value {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| format!("{v:.1}x"))
        .draw()
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, ratio))| {
            let color = if *ratio >= 1.0 { GREEN } else { RED };
            Rectangle::new(
                [
                    (bottom, SegmentValue::Exact(i)),
                    (*ratio, SegmentValue::Exact(i + 1)),
                ],
                color.mix(0.7).filled(),
            )
        }))
        .map_err(|e| failed(&e))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![
                (1.0, SegmentValue::Exact(0)),
                (1.0, SegmentValue::Exact(bars.len().max(1))),
            ],
            BLACK,
        )))
        .map_err(|e| failed(&e))?;
    root.present().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::ALL;

    fn scenario(name: &str) -> &'static Scenario {
        ALL.iter()
            .find(|s| s.name == name)
            .expect("a known scenario")
    }

    #[test]
    fn the_ratio_says_how_many_times_better_grove_did_whichever_way_better_points() {
        let ping = scenario("ping-pong");
        let cast = scenario("cast");
        let records = vec![
            record(ping, &ping.metrics[0], "grove", vec![300.0, 250.0, 200.0]),
            record(ping, &ping.metrics[0], "erlang", vec![500.0]),
            record(cast, &cast.metrics[0], "grove", vec![10.0]),
            record(cast, &cast.metrics[0], "tokio", vec![20.0]),
        ];
        assert_eq!(records[0].median, 250.0);
        assert_eq!(
            (records[0].min, records[0].max, records[0].runs),
            (200.0, 300.0, 3)
        );
        let ratios = ratios(&records);
        assert_eq!(ratios.len(), 2);
        // Lower is better for ping-pong: 500 ns against 250 ns is 2x in Grove's favour.
        assert_eq!(
            (ratios[0].metric, ratios[0].peer.as_str()),
            ("ping-pong", "erlang")
        );
        assert!((ratios[0].grove_advantage - 2.0).abs() < 1e-9);
        // Higher is better for casts: 10 against 20 is half.
        assert!((ratios[1].grove_advantage - 0.5).abs() < 1e-9);
        assert_eq!(verdict(2.0), "2.00x ahead");
        assert_eq!(verdict(0.5), "2.00x behind");
    }

    #[test]
    fn the_markdown_table_has_a_column_per_side_and_a_ratio_per_peer() {
        let ping = scenario("ping-pong");
        let records = vec![
            record(ping, &ping.metrics[0], "grove", vec![250.0]),
            record(ping, &ping.metrics[0], "erlang", vec![500.0]),
        ];
        let results = Results {
            machine: Machine {
                cores: 2,
                cpu_model: "test".into(),
                os: "linux".into(),
                otp_release: Some("25".into()),
                erlang_schedulers: Some(2),
                unix_time: 0,
            },
            quick: true,
            runs: 1,
            ratios: ratios(&records),
            targets: targets(&records, &ratios(&records)),
            records,
            skipped: vec!["rust peers: not built".into()],
        };
        let md = markdown(&results);
        assert!(
            md.contains("| metric | unit | grove | erlang | × erlang |"),
            "{md}"
        );
        assert!(
            md.contains("| ping-pong | ns per round trip | 250.0 | 500.0 | 2.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| ping-pong | 2.5 | 2.00 | **missed** | - | - |"),
            "{md}"
        );
        assert!(md.contains("Skipped: rust peers: not built"), "{md}");
        assert_eq!(human(1_500_000.0), "1.50M");
        assert_eq!(human(25_000.0), "25.0k");
        assert_eq!(human(f64::NAN), "-");
    }

    #[test]
    fn a_target_is_met_only_when_erlang_is_beaten_by_the_factor_and_no_peer_is_ahead() {
        let ping = scenario("ping-pong");
        let cast = scenario("cast");
        let records = vec![
            // ping-pong: target 2.5x Erlang; 500 / 250 = 2x misses it; tokio is behind Grove.
            record(ping, &ping.metrics[0], "grove", vec![250.0]),
            record(ping, &ping.metrics[0], "erlang", vec![500.0]),
            record(ping, &ping.metrics[0], "tokio", vec![300.0]),
            // cast: no Erlang target; actix is ahead.
            record(cast, &cast.metrics[0], "grove", vec![10.0]),
            record(cast, &cast.metrics[0], "erlang", vec![5.0]),
            record(cast, &cast.metrics[0], "actix", vec![20.0]),
        ];
        let targets = targets(&records, &ratios(&records));
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].erlang_target, Some(2.5));
        assert_eq!(targets[0].erlang_met, Some(false));
        assert!(targets[0].peers_ahead.is_empty());
        assert!(!targets[0].met());
        assert_eq!(targets[1].erlang_met, None);
        assert_eq!(targets[1].peers_ahead, [("actix".to_string(), 0.5)]);
        assert!(!targets[1].met());
        let lines = target_lines(&targets);
        assert!(
            lines[1].contains("2.00x Erlang (target 2.5x: MISSED)"),
            "{lines:?}"
        );
        assert!(lines[1].contains("ahead of all 1 Rust peers"), "{lines:?}");
        assert!(lines[2].contains("BEHIND actix 0.50"), "{lines:?}");
        assert_eq!(lines[3], "0 of 2 metrics meet every target");
    }

    #[test]
    fn a_goal_is_met_by_grove_s_own_median_whatever_erlang_did() {
        let send = scenario("dist-send");
        let hang = scenario("dist-detect-hang");
        let records = vec![
            // dist-send: at least 1M messages/s; 900k misses it though Erlang is far behind.
            record(send, &send.metrics[0], "grove", vec![900_000.0]),
            record(send, &send.metrics[0], "erlang", vec![300_000.0]),
            // dist-detect-hang: at most 2,000 ms.
            record(hang, &hang.metrics[0], "grove", vec![1_600.0]),
        ];
        let targets = targets(&records, &ratios(&records));
        assert_eq!(targets[0].goal_met, Some(false));
        assert!(!targets[0].met());
        assert_eq!(targets[1].goal_met, Some(true));
        assert!(targets[1].met());
        let lines = target_lines(&targets);
        assert!(
            lines[1].contains("Grove 900.0k (goal >= 1.00M: MISSED)"),
            "{lines:?}"
        );
        assert!(
            lines[2].contains("Grove 1600.0 (goal <= 2000.0: met)"),
            "{lines:?}"
        );
        assert_eq!(lines[3], "1 of 2 metrics meet every target");
    }

    #[test]
    fn a_target_erlang_did_not_run_is_not_met() {
        let ping = scenario("ping-pong");
        let records = vec![record(ping, &ping.metrics[0], "grove", vec![250.0])];
        let targets = targets(&records, &ratios(&records));
        assert!(targets[0].not_measured());
        assert!(!targets[0].met());
        let lines = target_lines(&targets);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("0 of 1 metrics meet every target (1 not measured against Erlang)")
        );
    }
}
