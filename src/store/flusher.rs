//! Group commit. sled's `flush_async` hangs when several tasks call it at once (measured:
//! 8 callers on a 2-thread runtime), so one blocking thread calls `flush()` and wakes every
//! request that wrote before that flush began; concurrent requests share one fsync.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// How long a flush may wait for more writers when the last one was shared.
const GATHER: Duration = Duration::from_micros(250);
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub(crate) struct Flusher {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Option<mpsc::Sender<Waiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The thread holds a handle to the database; join it when the last store handle goes, so
/// the database is really closed (and can be reopened) once the `Store` is dropped.
impl Drop for Inner {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Flusher {
    pub(crate) fn start(db: sled::Db) -> Flusher {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("handoff-flusher".into())
            .spawn(move || {
                // Ends when the last `Flusher` clone drops the sender.
                let mut last_batch = 0;
                while let Ok(first) = rx.recv() {
                    // Everyone queued now wrote before this flush starts, so it covers them.
                    let mut waiters = vec![first];
                    waiters.extend(rx.try_iter());
                    if last_batch > 1 {
                        // Under concurrent load, a moment's wait lets more writers share this
                        // fsync; fewer, larger flushes leave more CPU for the requests.
                        let until = Instant::now() + GATHER;
                        while waiters.len() < MAX_BATCH {
                            let left = until.saturating_duration_since(Instant::now());
                            match rx.recv_timeout(left) {
                                Ok(w) => waiters.push(w),
                                Err(_) => break,
                            }
                        }
                    }
                    last_batch = waiters.len();
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                }
            })
            .expect("spawn flusher thread");
        Flusher {
            inner: Arc::new(Inner {
                tx: Some(tx),
                thread: Some(thread),
            }),
        }
    }

    /// Resolves once everything this task wrote before calling is on disk.
    pub(crate) async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .as_ref()
            .expect("present until drop")
            .send(tx)
            .map_err(|_| "flusher stopped".to_string())?;
        rx.await.map_err(|_| "flusher stopped".to_string())?
    }
}
