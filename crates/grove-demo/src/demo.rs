//! The first process: starts the tree, watches it while it crashes and heals, then stops it
//! cleanly and checks that it was whole before it stopped.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use grove::prelude::*;
use grove::process::{process_info, whereis};
use grove::process::{system_info, whereis_addr};
use tokio::time::MissedTickBehavior;

use crate::stats::Stats;
use crate::summary::Summary;
use crate::tree::{self, ProducerCmd, TreeConfig, COLLECTOR, PRODUCER};
use crate::view::{Meter, View};

/// How often the view is redrawn.
const TICK: Duration = Duration::from_millis(100);
/// How long the tree gets to settle (mailboxes drained, every worker back) before shutdown.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the root gets to stop its tree.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the demo was asked to do.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The tree to run.
    pub tree: TreeConfig,
    /// How long to run; `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
}

/// What the first process accepts.
#[derive(Debug)]
pub enum Control {
    /// Ctrl-C was pressed: stop early.
    Interrupt,
}

/// Runs the demo as Grove's first process; leaves its summary in `report`.
pub async fn main_process(
    mut ctx: Context<Control>,
    settings: Settings,
    mut view: View,
    stats: Arc<Stats>,
    report: Arc<OnceLock<Summary>>,
) -> ExitReason {
    ctx.trap_exit(true);
    forward_ctrl_c(ctx.addr());
    let baseline = system_info().process_count;
    let config = settings.tree;
    let root = {
        let stats = stats.clone();
        ctx.spawn_link(move |c| tree::root(c, config, stats)).pid()
    };
    let mut meter = Meter::start();
    let watched = watch(
        &mut ctx,
        root,
        settings.duration,
        &mut view,
        &mut meter,
        &stats,
    )
    .await;
    view.clear();
    let mut summary = Summary::new(config, baseline + config.process_count() - 1);
    match watched {
        Ok(()) => {
            stop_producer();
            settle(&mut summary).await;
            summary.root_exit = stop_tree(&mut ctx, root).await;
        }
        Err(reason) => summary.root_exit = Some(reason),
    }
    summary.after_shutdown = system_info().process_count;
    summary.expected_after = baseline;
    summary.ran_for = meter.elapsed();
    summary.peak_processes = meter.peak_processes();
    summary.counts = stats.counts();
    let reason = if summary.healthy() {
        ExitReason::Normal
    } else {
        ExitReason::error("the tree was not healthy at the end")
    };
    let _ = report.set(summary);
    reason
}

/// Turns Ctrl-C into a message, so `--forever` ends with a clean stop and a summary.
fn forward_ctrl_c(me: Addr<Control>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            send(me, Control::Interrupt);
        }
    });
}

/// Redraws the view until the time is up or Ctrl-C; an error if the root exits on its own.
async fn watch(
    ctx: &mut Context<Control>,
    root: Pid,
    limit: Option<Duration>,
    view: &mut View,
    meter: &mut Meter,
    stats: &Stats,
) -> Result<(), ExitReason> {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let frame = meter.sample(stats.counts(), &system_info());
                view.show(&frame);
                if limit.is_some_and(|limit| frame.elapsed >= limit) {
                    return Ok(());
                }
            }
            message = ctx.recv() => match message {
                Message::User(Control::Interrupt) => return Ok(()),
                Message::Exit(exit) if exit.from == root => return Err(exit.reason),
                _ => {}
            },
        }
    }
}

/// Asks the producer to stop; it exits normally, so the root does not restart it.
fn stop_producer() {
    if let Some(producer) = whereis_addr::<ProducerCmd>(PRODUCER) {
        send(producer, ProducerCmd::Stop);
    }
}

/// Waits until no more jobs are pending, every worker is running again and the process count
/// is what the tree should have; records what it saw.
async fn settle(summary: &mut Summary) {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let workers = (0..summary.tree.workers).map(tree::worker_name);
        let infos: Vec<_> = workers
            .map(|name| whereis(&name).and_then(process_info))
            .collect();
        summary.workers_alive = infos.iter().flatten().count();
        let collector_idle = whereis(COLLECTOR)
            .and_then(process_info)
            .is_some_and(|info| info.mailbox_len == 0);
        let drained = collector_idle && infos.iter().flatten().all(|i| i.mailbox_len == 0);
        summary.before_shutdown = system_info().process_count;
        let whole = summary.workers_alive == summary.tree.workers
            && summary.before_shutdown == summary.expected_before;
        if (drained && whole) || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends the root an exit signal with `shutdown` and waits for it to stop its tree and exit.
async fn stop_tree(ctx: &mut Context<Control>, root: Pid) -> Option<ExitReason> {
    ctx.exit(root, ExitReason::Shutdown);
    let from_root = |m: &Message<Control>| matches!(m, Message::Exit(e) if e.from == root);
    match ctx.recv_match_timeout(from_root, STOP_TIMEOUT).await {
        Some(Message::Exit(exit)) => Some(exit.reason),
        _ => None,
    }
}
