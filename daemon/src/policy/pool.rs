//! The threads that decide sharing requests: a fixed number of workers and a bounded queue, so
//! a burst of requests (or a slow policy) takes at most those threads' share of the machine and
//! never the async runtime that serves the API, the cameras and MQTT.
//!
//! A decision writes two audit entries (each `fsync`ed) and runs every plugin; all of it happens
//! on a worker. A caller either waits for a place in the queue ([`Admission::Wait`], the relay,
//! whose input is already bounded per poll) or is told at once that the hub is busy
//! ([`Admission::RefuseWhenBusy`], the API: `503`, never an allow).

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, oneshot};

/// Requests that may wait for a worker, beyond those being decided.
pub const QUEUE: usize = 64;

/// How a caller takes its place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Wait for a place (the relay's requests and the policies' offers).
    Wait,
    /// Give up at once when the queue is full (local API clients).
    RefuseWhenBusy,
}

/// The queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the hub is deciding as many requests as it can; try again shortly")]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads and their queue. Dropping the pool lets the workers finish and exit.
#[derive(Debug)]
pub struct DecisionPool {
    /// Places: one per worker plus the queue.
    places: Arc<Semaphore>,
    jobs: Mutex<std_mpsc::Sender<Job>>,
    workers: usize,
}

impl DecisionPool {
    /// Half the machine's cores (at least one) and [`QUEUE`].
    pub fn for_this_machine() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new((cores / 2).max(1), QUEUE)
    }

    pub fn new(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("policy-{n}")).spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match job {
                        // A job that panics loses its answer (the caller sees `None`, a deny),
                        // not the worker.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self { places: Arc::new(Semaphore::new(workers + queue)), jobs: Mutex::new(tx), workers })
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `f` on a worker and returns its result. `None` if the worker failed (`f` panicked).
    pub async fn run<T: Send + 'static>(
        &self,
        admission: Admission,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let place = match admission {
            Admission::Wait => Arc::clone(&self.places).acquire_owned().await.map_err(|_| Busy)?,
            Admission::RefuseWhenBusy => Arc::clone(&self.places).try_acquire_owned().map_err(|_| Busy)?,
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _place = place;
            let _ = tx.send(f());
        });
        if self.jobs.lock().unwrap_or_else(PoisonError::into_inner).send(job).is_err() {
            return Ok(None);
        }
        Ok(rx.await.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_waiting_callers_get_their_turn() {
        let pool = Arc::new(DecisionPool::new(1, 2).expect("pool"));
        let (release_tx, release_rx) = std_mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        // One being decided and two queued fill the pool.
        let mut held = Vec::new();
        for n in 0..3u32 {
            let (pool, release, started) = (Arc::clone(&pool), Arc::clone(&release_rx), started_tx.clone());
            held.push(tokio::spawn(async move {
                pool.run(Admission::RefuseWhenBusy, move || {
                    let _ = started.send(n);
                    let _ = release.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    n
                })
                .await
            }));
        }
        assert_eq!(started_rx.recv().await, Some(0), "the first job runs");
        while pool.places.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(Admission::RefuseWhenBusy, || 9).await, Err(Busy));
        let waiting = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(Admission::Wait, || 10).await })
        };
        for _ in 0..3 {
            release_tx.send(()).expect("release");
        }
        let mut done = Vec::new();
        for h in held {
            done.push(h.await.expect("task").expect("admitted").expect("ran"));
        }
        assert_eq!(done, vec![0, 1, 2]);
        assert_eq!(waiting.await.expect("task"), Ok(Some(10)), "a waiting caller runs when a place frees");
    }

    #[tokio::test]
    async fn a_panicking_job_gives_none_and_the_worker_goes_on() {
        let pool = DecisionPool::new(1, 1).expect("pool");
        let r: Result<Option<u8>, Busy> = pool.run(Admission::Wait, || panic!("boom")).await;
        assert_eq!(r, Ok(None));
        assert_eq!(pool.run(Admission::Wait, || 7).await, Ok(Some(7)));
    }
}
