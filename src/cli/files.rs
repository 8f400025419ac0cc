//! Opening inputs and writing outputs so that a failed run leaves no partial file.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Write buffer of outputs that are not CSV (the CSV writers buffer on their own).
const WRITE_BUF: usize = 1 << 16;

/// Opens an input file (the line reader buffers it).
pub fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("{}: cannot open", path.display()))
}

/// An output written beside its final path and renamed into place by [`Output::commit`].
pub struct Output {
    tmp: PathBuf,
    path: PathBuf,
}

impl Output {
    /// Creates `PATH.tmp` for writing.
    pub fn create(path: &Path) -> anyhow::Result<(Output, BufWriter<File>)> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let f = File::create(&tmp).with_context(|| format!("{}: cannot create", path.display()))?;
        Ok((
            Output {
                tmp,
                path: path.to_path_buf(),
            },
            BufWriter::with_capacity(WRITE_BUF, f),
        ))
    }

    /// Moves the finished file into place.
    pub fn commit(self) -> anyhow::Result<()> {
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("{}: cannot move into place", self.path.display()))
    }

    /// Removes the unfinished file.
    pub fn abandon(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Flushes a buffered writer, naming the file on failure.
pub fn finish(w: BufWriter<File>, path: &Path) -> anyhow::Result<()> {
    w.into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}
