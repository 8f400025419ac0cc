//! Where CDR rows come from. A file today; a Kafka topic later implements the same trait.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

/// A source of CDR text that can be read from its start more than once: once to prove it is
/// readable (nothing is submitted from a source that is not), once to submit it.
pub trait CdrSource: Send + Sync + 'static {
    /// The reader over the source's bytes.
    type Reader: Read + Send + 'static;

    /// A name for messages, e.g. the file's path.
    fn name(&self) -> String;

    /// Opens the source at its start.
    fn open(&self) -> io::Result<Self::Reader>;

    /// About how many bytes it holds, if known: sizes the dedupe filter.
    fn size_hint(&self) -> Option<u64>;
}

/// A CDR file on disk.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource { path: path.into() }
    }
}

impl CdrSource for FileSource {
    type Reader = File;

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn open(&self) -> io::Result<File> {
        File::open(&self.path)
    }

    fn size_hint(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }
}
