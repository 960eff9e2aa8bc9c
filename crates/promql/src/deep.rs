//! Threads with deep stacks for parsing and evaluating queries, kept for reuse.
//!
//! Parsing and evaluation recurse once per level of the expression, so both run on a thread with a large,
//! lazily committed stack ([`DEEP_STACK_BYTES`]) that a hostile query cannot overflow. Starting such a
//! thread per query (twice: once to parse, once to evaluate) cost about half a millisecond of a 4 ms
//! instant query over 1k series: the spawn, the mapping and unmapping of the stack (with a TLB shootdown
//! on every core) and the join. Here a finished thread waits for the next query instead.
//!
//! [`run`] hands a closure to an idle thread (starting one when none is idle) and blocks until it has run.
//! A job already on a deep thread runs in place.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel, sync_channel};

/// Stack size of the threads that parse and evaluate queries (reserved, committed only as used).
pub(crate) const DEEP_STACK_BYTES: usize = 64 << 20;

/// Idle threads kept at most. Beyond it (more queries at once than this, then a pause) threads end, so a
/// burst does not leave its stacks behind for good.
const MAX_IDLE: usize = 8;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Senders to the idle threads' job channels.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

thread_local! {
    static ON_DEEP_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Why [`run`] could not run a job.
#[derive(Debug)]
pub(crate) enum DeepError {
    /// No thread could be started.
    Spawn(std::io::Error),
    /// The job panicked.
    Panicked,
}

/// Runs `f` on a thread with a deep stack and returns its result; `f` may borrow from the caller, as with
/// `std::thread::scope`.
pub(crate) fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send) -> Result<T, DeepError> {
    if ON_DEEP_THREAD.with(Cell::get) {
        return catch_unwind(AssertUnwindSafe(f)).map_err(|_| DeepError::Panicked);
    }
    let (done_tx, done_rx) = sync_channel(1);
    let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        // The receiver waits for this; it is gone only if the caller's thread itself died.
        let _ = done_tx.send(r);
    });
    // SAFETY: the job may borrow from the caller's frame, so it must not outlive this call. This call
    // returns only once `done_rx` yields, which happens when the job has run to its end (it has consumed
    // `f`, and what remains of it, the sender, owns only `'static` data as `T: 'static`) or when the job
    // was dropped without running (its sender dropped with it). Either way nothing borrowed is left.
    #[allow(unsafe_code)]
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
    submit(job).map_err(DeepError::Spawn)?;
    match done_rx.recv() {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(_)) | Err(_) => Err(DeepError::Panicked),
    }
}

/// Starts `f` on a thread with a deep stack without waiting for it: for a caller that waits by other means
/// (the HTTP handlers await a channel instead of blocking a runtime thread).
pub fn spawn(f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    submit(Box::new(f))
}

/// Hands `job` to an idle deep thread, or to a new one.
fn submit(job: Job) -> std::io::Result<()> {
    let mut job = Some(job);
    // An idle thread whose channel is closed has ended; try the next, then start a new one.
    while let Some(tx) = pop_idle() {
        match tx.send(job.take().expect("job present")) {
            Ok(()) => return Ok(()),
            Err(e) => job = Some(e.0),
        }
    }
    let tx = spawn_thread()?;
    // A thread just started does not end before it has received and run a job.
    let _ = tx.send(job.take().expect("job present"));
    Ok(())
}

fn pop_idle() -> Option<Sender<Job>> {
    IDLE.lock().unwrap_or_else(|p| p.into_inner()).pop()
}

/// Starts a deep thread and returns the sender to its job channel.
fn spawn_thread() -> std::io::Result<Sender<Job>> {
    let (tx, rx) = channel::<Job>();
    let mine = tx.clone();
    std::thread::Builder::new()
        .name("promql-eval".to_owned())
        .stack_size(DEEP_STACK_BYTES)
        .spawn(move || {
            ON_DEEP_THREAD.with(|c| c.set(true));
            while let Ok(job) = rx.recv() {
                // Jobs from `run` catch their own panics; one from `spawn` that panics must not end the
                // thread with it.
                let _ = catch_unwind(AssertUnwindSafe(job));
                let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() >= MAX_IDLE {
                    return;
                }
                idle.push(mine.clone());
            }
        })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_borrow_from_the_caller_and_threads_are_reused() {
        let data = [1u64, 2, 3];
        let sum = run(|| data.iter().sum::<u64>()).unwrap();
        assert_eq!(sum, 6);
        let first = run(|| std::thread::current().id()).unwrap();
        // Threads go back to the idle list just after the job; the next job may start one more before.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.insert(run(|| std::thread::current().id()).unwrap());
        }
        seen.insert(first);
        assert!(seen.len() < 50, "every job started a thread: {}", seen.len());
        assert_ne!(first, std::thread::current().id());
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        let r = run(|| -> u32 { panic!("boom") });
        assert!(matches!(r, Err(DeepError::Panicked)));
        assert_eq!(run(|| 7).unwrap(), 7);
    }

    #[test]
    fn nested_runs_stay_on_the_thread_and_use_its_stack() {
        fn depth(n: u64) -> u64 {
            let pad = [n; 128];
            if n == 0 {
                0
            } else {
                std::hint::black_box(pad)[0].min(1) + depth(n - 1)
            }
        }
        // 20k frames of over 1 KiB: beyond a default 2 MiB (or 8 MiB main) stack.
        let outer = run(|| {
            let id = std::thread::current().id();
            let inner = run(|| (std::thread::current().id(), depth(20_000))).unwrap();
            (id, inner)
        })
        .unwrap();
        assert_eq!(outer.0, outer.1.0);
        assert_eq!(outer.1.1, 20_000);
    }

    #[test]
    fn spawned_jobs_run_on_a_deep_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(move || {
            let _ = tx.send(ON_DEEP_THREAD.with(Cell::get));
        })
        .unwrap();
        assert!(rx.recv().unwrap());
    }

    #[test]
    fn concurrent_jobs_each_get_a_thread() {
        let barrier = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| run(|| barrier.wait()).unwrap());
            }
        });
    }
}
