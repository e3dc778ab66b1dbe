//! The thread that runs batches, one at a time, and how a batch is told to stop: after the
//! run in progress when its client is gone, its time budget is used, or the server stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use dynoprobe::report::batch::{Batch, BatchRequest, CutShort, Workloads};
use dynoprobe::workload::Inputs;
use tokio::sync::oneshot;

/// One batch to run, what may stop it, and where to send its result.
struct Job {
    request: BatchRequest,
    client_gone: Arc<AtomicBool>,
    reply: oneshot::Sender<anyhow::Result<Batch>>,
}

/// The handle of the thread that runs batches. Whether a batch is running belongs to the
/// thread, not to the request that asked for it: a client that leaves cannot make the server
/// take another batch while its own is still running.
pub struct Bench {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Set by [`Bench::try_start`], cleared by the thread when the batch has ended.
    busy: Arc<AtomicBool>,
    /// Set once, when the server begins to stop.
    pub stopping: Arc<AtomicBool>,
}

/// A batch accepted to run. Dropped before its answer came (the client left, so the
/// handler was dropped), it tells the batch to stop; dropped before it was sent, it frees
/// the thread.
pub struct Started<'a> {
    bench: &'a Bench,
    client_gone: Arc<AtomicBool>,
    sent: bool,
    answered: bool,
}

impl Bench {
    /// Starts the batch thread, whose batches stop at `budget`; it ends when the handle is
    /// dropped.
    pub fn spawn(
        inputs: Inputs,
        instance: Option<String>,
        budget: Duration,
    ) -> anyhow::Result<Bench> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let busy = Arc::new(AtomicBool::new(false));
        let stopping = Arc::new(AtomicBool::new(false));
        let (thread_busy, thread_stopping) = (busy.clone(), stopping.clone());
        std::thread::Builder::new()
            .name("dynoprobe-bench".into())
            .spawn(move || {
                let mut workloads = Workloads::new(inputs, instance);
                for job in queue {
                    let deadline = Instant::now() + budget;
                    let stop = || {
                        if thread_stopping.load(Ordering::Relaxed) {
                            Some(CutShort::ShuttingDown)
                        } else if job.client_gone.load(Ordering::Relaxed) {
                            Some(CutShort::ClientGone)
                        } else if Instant::now() >= deadline {
                            Some(CutShort::Budget)
                        } else {
                            None
                        }
                    };
                    let result = workloads
                        .run(&job.request, &stop)
                        .map_err(anyhow::Error::from);
                    thread_busy.store(false, Ordering::Release);
                    let _ = job.reply.send(result);
                }
            })
            .context("starting the batch thread")?;
        Ok(Bench {
            jobs,
            busy,
            stopping,
        })
    }

    /// Takes the batch thread for one batch; `None` when a batch is running.
    pub fn try_start(&self) -> Option<Started<'_>> {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(Started {
            bench: self,
            client_gone: Arc::new(AtomicBool::new(false)),
            sent: false,
            answered: false,
        })
    }
}

impl Started<'_> {
    /// Runs `request` on the batch thread and waits for its answer.
    pub async fn run(mut self, request: BatchRequest) -> anyhow::Result<Batch> {
        let (reply, result) = oneshot::channel();
        let job = Job {
            request,
            client_gone: self.client_gone.clone(),
            reply,
        };
        if self.bench.jobs.send(job).is_err() {
            anyhow::bail!("the batch thread has stopped");
        }
        self.sent = true;
        let answer = result
            .await
            .map_err(|_| anyhow::anyhow!("the batch thread stopped during the batch"));
        self.answered = true;
        answer?
    }
}

impl Drop for Started<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.bench.busy.store(false, Ordering::Release);
        } else if !self.answered {
            self.client_gone.store(true, Ordering::Relaxed);
        }
    }
}
