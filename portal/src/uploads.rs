//! CDR uploads: the body is streamed to a file on disk as it arrives (never whole in
//! memory), then submitted by [`ingest::submit_file`] in a background task whose progress
//! and outcome the API and the page report. An upload belongs to its carrier: another
//! carrier's id is not found.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use contracts::client::Clearing;
use futures_util::StreamExt;
use ingest::{SubmitOptions, submit_file};
use serde::Serialize;
use settlement::carrier::CarrierId;
use settlement::cdr::{FormatSpec, RejectReason};
use tokio::io::AsyncWriteExt;

use crate::errors::PortalError;
use crate::users::random_hex;

/// Where a submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Being judged and submitted.
    Running,
    /// Every batch committed.
    Done,
    /// Stopped; see `message`.
    Failed,
}

/// An upload as `GET /api/v1/cdr-files/{id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadStatus {
    /// Its id.
    pub id: String,
    /// The file's name as uploaded.
    pub name: String,
    /// `running`, `done` or `failed`.
    pub state: UploadState,
    /// Bytes of the file judged so far.
    pub done_bytes: u64,
    /// The file's size.
    pub total_bytes: u64,
    /// Data rows (once done).
    pub rows: u64,
    /// Accepted rows.
    pub accepted: u64,
    /// Rejected rows per reason.
    pub rejected: BTreeMap<String, u64>,
    /// Every row was a duplicate of an earlier submission.
    pub already_submitted: bool,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl UploadState {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Running => "running",
            UploadState::Done => "done",
            UploadState::Failed => "failed",
        }
    }
}

struct Upload {
    carrier: CarrierId,
    status: UploadStatus,
    rejects: PathBuf,
}

/// Every upload since the node started.
pub struct Uploads {
    dir: PathBuf,
    all: Mutex<HashMap<String, Arc<Mutex<Upload>>>>,
}

fn locked<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, PortalError> {
    m.lock()
        .map_err(|_| PortalError::Fault("an upload's state was poisoned".into()))
}

impl Uploads {
    /// Uploads spooled under `dir`.
    pub fn new(dir: PathBuf) -> Uploads {
        Uploads {
            dir,
            all: Mutex::new(HashMap::new()),
        }
    }

    /// Uploads running now.
    pub fn running(&self) -> usize {
        self.all
            .lock()
            .map(|m| {
                m.values()
                    .filter(|u| {
                        u.lock()
                            .map(|u| u.status.state == UploadState::Running)
                            .unwrap_or(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    fn get(&self, carrier: CarrierId, id: &str) -> Result<Arc<Mutex<Upload>>, PortalError> {
        let missing = || PortalError::NotFound(format!("no CDR upload `{id}`"));
        let up = locked(&self.all)?.get(id).cloned().ok_or_else(missing)?;
        if locked(&up)?.carrier != carrier {
            return Err(missing());
        }
        Ok(up)
    }

    /// An upload's status, for its own carrier only.
    pub fn status(&self, carrier: CarrierId, id: &str) -> Result<UploadStatus, PortalError> {
        let up = self.get(carrier, id)?;
        Ok(locked(&up)?.status.clone())
    }

    /// The carrier's uploads, newest first.
    pub fn list(&self, carrier: CarrierId) -> Result<Vec<UploadStatus>, PortalError> {
        let all = locked(&self.all)?;
        let mut out = Vec::new();
        for up in all.values() {
            let u = locked(up)?;
            if u.carrier == carrier {
                out.push(u.status.clone());
            }
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }

    /// The rejects file of a finished upload.
    pub fn rejects(&self, carrier: CarrierId, id: &str) -> Result<PathBuf, PortalError> {
        let up = self.get(carrier, id)?;
        let u = locked(&up)?;
        if u.status.state != UploadState::Done {
            return Err(PortalError::NotFound(format!(
                "upload `{id}` has no rejects file until it is done"
            )));
        }
        Ok(u.rejects.clone())
    }

    /// Streams `body` to a spool file; returns its path and size. Nothing is kept in memory
    /// beyond one chunk.
    pub async fn spool<S, E>(&self, mut body: S) -> Result<(String, PathBuf, u64), PortalError>
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // Ids sort by time of upload: a millisecond stamp, then randomness.
        let id = format!("{:013}-{}", now_ms(), random_hex(6).map_err(fault)?);
        let path = self.dir.join(format!("{id}.cdr"));
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| PortalError::Fault(format!("{}: cannot create: {e}", path.display())))?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(PortalError::bad(format!("the upload broke off: {e}")));
                }
            };
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| PortalError::Fault(format!("{}: {e}", path.display())))?;
        }
        file.flush()
            .await
            .map_err(|e| PortalError::Fault(format!("{}: {e}", path.display())))?;
        Ok((id, path, size))
    }

    /// Registers a spooled file and returns the task that submits it (to be spawned on
    /// the network's runtime).
    pub fn start(
        &self,
        client: Clearing,
        id: String,
        name: String,
        path: PathBuf,
        size: u64,
        format: FormatSpec,
    ) -> Result<impl std::future::Future<Output = ()> + Send + 'static, PortalError> {
        let rejects = self.dir.join(format!("{id}.rejects.csv"));
        let up = Arc::new(Mutex::new(Upload {
            carrier: client.me(),
            rejects: rejects.clone(),
            status: UploadStatus {
                id: id.clone(),
                name,
                state: UploadState::Running,
                done_bytes: 0,
                total_bytes: size,
                rows: 0,
                accepted: 0,
                rejected: BTreeMap::new(),
                already_submitted: false,
                message: None,
            },
        }));
        locked(&self.all)?.insert(id, up.clone());
        Ok(run(client, up, path, format, rejects))
    }
}

async fn run(
    client: Clearing,
    up: Arc<Mutex<Upload>>,
    path: PathBuf,
    format: FormatSpec,
    rejects: PathBuf,
) {
    let progress = {
        let up = up.clone();
        move |done: u64, total: u64| {
            if let Ok(mut u) = up.lock() {
                u.status.done_bytes = done;
                u.status.total_bytes = total;
            }
        }
    };
    let outcome = submit_file(
        &path,
        client.me(),
        format,
        &SubmitOptions::default(),
        &client,
        &rejects,
        progress,
    )
    .await;
    let _ = remove(&path).await;
    if let Ok(mut u) = up.lock() {
        match outcome {
            Ok(r) => {
                u.status.state = UploadState::Done;
                u.status.done_bytes = u.status.total_bytes;
                u.status.rows = r.rows;
                u.status.accepted = r.accepted;
                u.status.already_submitted = r.already_submitted;
                u.status.rejected = RejectReason::ALL
                    .iter()
                    .zip(r.rejected)
                    .filter(|(_, n)| *n > 0)
                    .map(|(reason, n)| (reason.as_str().to_string(), n))
                    .collect();
            }
            Err(e) => {
                u.status.state = UploadState::Failed;
                u.status.message = Some(e.to_string());
            }
        }
    }
}

async fn remove(path: &Path) -> std::io::Result<()> {
    tokio::fs::remove_file(path).await
}

fn fault(e: impl std::fmt::Display) -> PortalError {
    PortalError::Fault(e.to_string())
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}
