//! A file's lines worked on every core: a reader thread cuts the input into blocks of whole
//! lines, workers turn each block into a result, and the caller's thread takes the results
//! in file order (block k from worker k mod n), so what must see rows in order still does.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::ScopedJoinHandle;

use super::RunError;
use crate::lines::{LineBlock, LineReader};

/// How a run shares out its work.
#[derive(Debug, Clone, Copy)]
pub struct Pipeline {
    /// Threads that work on blocks (one at least).
    pub workers: usize,
    /// The most bytes of lines in a block (a longer line is a block of its own).
    pub block: usize,
}

impl Pipeline {
    /// A worker for each core, blocks of a megabyte.
    pub fn for_this_machine() -> Self {
        Pipeline {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            block: 1 << 20,
        }
    }
}

/// Runs `work` on each block of what is left of `lines`, on the pipeline's workers, and
/// hands the results to `take` in file order; returns the bytes of the input read. An error
/// of `take` stops the run, and comes before a read error after it, as in a line-by-line run.
pub(super) fn in_blocks<R, T>(
    mut lines: LineReader<R>,
    pipeline: Pipeline,
    work: impl Fn(LineBlock) -> io::Result<T> + Sync,
    mut take: impl FnMut(T) -> Result<(), RunError>,
) -> Result<u64, RunError>
where
    R: Read + Send,
    T: Send,
{
    let n = pipeline.workers.max(1);
    let work = &work;
    std::thread::scope(|s| {
        let mut to_workers = Vec::with_capacity(n);
        let mut from_workers = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            // Two blocks waiting each way keep every thread busy and memory bounded.
            let (to, blocks) = sync_channel::<LineBlock>(2);
            let (done, from) = sync_channel(2);
            workers.push(s.spawn(move || {
                for block in blocks {
                    if done.send(work(block)).is_err() {
                        // The caller stopped early; its error is the run's.
                        return;
                    }
                }
            }));
            to_workers.push(to);
            from_workers.push(from);
        }
        let reader = s.spawn(move || -> io::Result<u64> {
            for k in 0usize.. {
                let Some(block) = lines.next_block(pipeline.block)? else {
                    break;
                };
                if to_workers[k % n].send(block).is_err() {
                    break;
                }
            }
            Ok(lines.bytes_read())
        });
        let taken = take_in_order(from_workers, &mut take);
        let read = joined(reader);
        workers.into_iter().for_each(joined);
        taken?;
        read.map_err(RunError::Read)
    })
}

/// Takes block k from worker k mod n until the worker whose turn it is has no more (the
/// reader stopped: at the end of the input, or at a read error the caller is told of).
/// Returning drops the receivers, which stops the workers and then the reader.
fn take_in_order<T>(
    from_workers: Vec<Receiver<io::Result<T>>>,
    take: &mut impl FnMut(T) -> Result<(), RunError>,
) -> Result<(), RunError> {
    for k in 0usize.. {
        let Ok(result) = from_workers[k % from_workers.len()].recv() else {
            break;
        };
        take(result.map_err(RunError::Read)?)?;
    }
    Ok(())
}

/// A thread's result; its panic goes on in the caller.
fn joined<T>(thread: ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
