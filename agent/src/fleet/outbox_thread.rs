//! The outbox on a thread of its own: every SQLite call of publishing (opening the file,
//! spilling, replaying, deleting what the broker has, reserving sequence numbers) runs here,
//! never on the async runtime's thread. An SD card that stalls for seconds then
//! stalls this thread only: Modbus timers, the HTTP server and the session's handling of the
//! broker's acknowledgements go on.
//!
//! The producers hand their messages straight to this thread (a bounded channel: a producer
//! that outruns it waits a moment rather than growing memory). The session asks for the next
//! messages to send and is answered on a channel of its own, so it never waits on the file
//! either: a request stays open here until there is something to send (a long poll), and the
//! answer is tagged with the request's id so that one meant for a connection that has since
//! died is recognised and dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::outbox::{Message, Outbox, Publish, SPILL_AFTER};
use super::FleetStats;

/// How often memory is spilled and delivered cursors are written down.
const TICK: Duration = Duration::from_millis(200);

/// What the session asks of the outbox.
#[derive(Debug)]
pub enum Request {
    /// Up to `n` messages after position `after` (from the oldest when `None`), answered on
    /// the batches channel as soon as there is at least one, tagged with `id`. A newer request
    /// replaces one still open.
    Next {
        id: u64,
        after: Option<u64>,
        n: usize,
    },
    /// The broker has everything up to and including `pos`, `count` messages.
    Acked { pos: u64, count: u64 },
    /// Keep everything undelivered on disk and end; answered once done.
    Close(oneshot::Sender<()>),
}

/// An answer to [`Request::Next`].
#[derive(Debug)]
pub struct Batch {
    pub id: u64,
    pub messages: Vec<Message>,
}

/// The session's end of the outbox thread.
pub struct OutboxLink {
    requests: mpsc::UnboundedSender<Request>,
    pub batches: mpsc::UnboundedReceiver<Batch>,
}

impl OutboxLink {
    /// Sends a request; false when the outbox thread is gone.
    pub fn send(&self, r: Request) -> bool {
        self.requests.send(r).is_ok()
    }

    /// Asks the thread to keep everything on disk and waits (asynchronously, at most
    /// `timeout`) until it has.
    pub async fn close(&self, timeout: Duration) {
        let (done, finished) = oneshot::channel();
        if self.send(Request::Close(done)) {
            let _ = tokio::time::timeout(timeout, finished).await;
        }
    }
}

/// Where the outbox's file stood when it was opened.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// Where each table-tailing producer left off (as far as the broker or the disk had it).
    pub cursors: BTreeMap<String, i64>,
}

/// Starts the outbox thread: it opens the file (at `path`, within `budget` bytes), says so on
/// the returned `opened`, then takes producers' messages from `publish` and the session's
/// requests until the session closes it or goes away.
pub fn start(
    path: PathBuf,
    budget: u64,
    stats: Arc<FleetStats>,
    publish: mpsc::Receiver<Publish>,
) -> std::io::Result<(OutboxLink, oneshot::Receiver<Opened>)> {
    let (requests, req_rx) = mpsc::unbounded_channel();
    let (batch_tx, batches) = mpsc::unbounded_channel();
    let (opened_tx, opened) = oneshot::channel();
    std::thread::Builder::new()
        .name("mqtt-outbox".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a current-thread runtime for the outbox thread");
            rt.block_on(run(
                path, budget, stats, publish, req_rx, batch_tx, opened_tx,
            ));
        })?;
    Ok((OutboxLink { requests, batches }, opened))
}

/// The thread's loop. Blocking calls into the outbox are fine here: this runtime is this
/// thread's alone.
async fn run(
    path: PathBuf,
    budget: u64,
    stats: Arc<FleetStats>,
    mut publish: mpsc::Receiver<Publish>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    batches: mpsc::UnboundedSender<Batch>,
    opened: oneshot::Sender<Opened>,
) {
    let mut outbox = Outbox::open(&path, budget, stats);
    let _ = opened.send(Opened {
        cursors: outbox.opened_cursors().clone(),
    });
    let mut want: Option<(u64, Option<u64>, usize)> = None;
    let mut producers_gone = false;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            p = publish.recv(), if !producers_gone => match p {
                Some(p) => {
                    outbox.push(p);
                    while let Ok(p) = publish.try_recv() {
                        outbox.push(p);
                    }
                }
                None => producers_gone = true,
            },
            r = requests.recv() => match r {
                Some(Request::Next { id, after, n }) => want = Some((id, after, n)),
                Some(Request::Acked { pos, count }) => outbox.acked(pos, count),
                Some(Request::Close(done)) => {
                    close(outbox, &mut publish);
                    let _ = done.send(());
                    return;
                }
                None => {
                    // The session is gone (stopped or panicked): keep what is undelivered.
                    close(outbox, &mut publish);
                    return;
                }
            },
            _ = tick.tick() => outbox.spill(SPILL_AFTER),
        }
        if let Some((id, after, n)) = want {
            let messages = outbox.next(after, n);
            if !messages.is_empty() {
                want = None;
                if batches.send(Batch { id, messages }).is_err() {
                    close(outbox, &mut publish);
                    return;
                }
            }
        }
    }
}

/// Takes in what the producers had already handed over, then keeps it all on disk.
fn close(mut outbox: Outbox, publish: &mut mpsc::Receiver<Publish>) {
    while let Ok(p) = publish.try_recv() {
        outbox.push(p);
    }
    outbox.close();
}
