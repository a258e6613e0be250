//! Workers started as tasks wait for them, up to `jobs`. A build whose steps are all cached
//! computes its keys one after another and needs one worker, not eight: each thread more
//! costs a stack, a malloc arena and their teardown (a five-step no-op rebuild that started
//! five took 5.0 ms, with one 3.7 ms).

use std::io;

/// Starts one more worker thread, or says why it could not.
pub(crate) type Start<'p> = Box<dyn FnMut() -> io::Result<()> + 'p>;

/// The workers started so far and how to start another.
pub(crate) struct Pool<'p> {
    started: usize,
    max: usize,
    start: Start<'p>,
}

impl<'p> Pool<'p> {
    /// At most `max` workers (at least one), none started yet.
    pub fn new(max: usize, start: Start<'p>) -> Self {
        Pool {
            started: 0,
            max: max.max(1),
            start,
        }
    }

    /// Starts workers until there is one per task `outstanding` (sent and not yet answered),
    /// up to the maximum. Fails only when no worker at all could be started: with one, the
    /// tasks still run, one at a time.
    pub fn serve(&mut self, outstanding: usize) -> io::Result<()> {
        while self.started < outstanding.min(self.max) {
            match (self.start)() {
                Ok(()) => self.started += 1,
                Err(e) if self.started == 0 => return Err(e),
                Err(_) => {
                    // The OS refused another thread: keep the ones there are.
                    self.max = self.started;
                }
            }
        }
        Ok(())
    }

    /// How many workers were started.
    #[cfg(test)]
    pub fn started(&self) -> usize {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn starts_one_worker_per_waiting_task_up_to_the_maximum() {
        let count = Cell::new(0);
        let mut pool = Pool::new(
            3,
            Box::new(|| {
                count.set(count.get() + 1);
                Ok(())
            }),
        );
        pool.serve(0).unwrap();
        assert_eq!(pool.started(), 0);
        pool.serve(1).unwrap();
        pool.serve(1).unwrap();
        assert_eq!(pool.started(), 1);
        pool.serve(5).unwrap();
        assert_eq!((pool.started(), count.get()), (3, 3));
    }

    #[test]
    fn a_refused_thread_caps_the_pool_unless_it_is_the_first() {
        let count = Cell::new(0);
        let mut pool = Pool::new(
            4,
            Box::new(|| {
                if count.get() == 2 {
                    return Err(io::Error::other("no more threads"));
                }
                count.set(count.get() + 1);
                Ok(())
            }),
        );
        pool.serve(4).unwrap();
        assert_eq!(pool.started(), 2);
        pool.serve(4).unwrap();
        assert_eq!(count.get(), 2);

        let mut none = Pool::new(2, Box::new(|| Err(io::Error::other("no threads"))));
        assert!(none.serve(1).is_err());
    }
}
