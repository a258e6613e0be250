//! A small fixed thread pool for compression jobs; threads end when the pool is dropped.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A unit of work run on a pool thread.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// `n` threads taking jobs from one queue in submission order.
pub(crate) struct Pool {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `n` (at least one) threads. A thread that cannot be spawned is left out; if none
    /// could be, `run` reports it.
    pub(crate) fn new(n: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..n.max(1))
            .filter_map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("rbuild-gzip-{i}"))
                    .spawn(move || work(&rx))
                    .ok()
            })
            .collect();
        Pool {
            jobs: Some(tx),
            threads,
        }
    }

    /// Queues `job` for the next free thread.
    pub(crate) fn run(&self, job: Job) -> io::Result<()> {
        let dead = || io::Error::other("compression threads could not be started");
        if self.threads.is_empty() {
            return Err(dead());
        }
        let tx = self.jobs.as_ref().ok_or_else(dead)?;
        tx.send(job).map_err(|_| dead())
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        // Holding the lock only while receiving lets the other threads run their jobs.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every thread once it is idle.
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
