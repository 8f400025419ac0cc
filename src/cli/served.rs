//! A network served by `iclear up`: the typed client's transport for commands run while `up`
//! holds the network open. They talk over a Unix socket in the network's directory,
//! `DIR/up/control.sock`, in a directory of mode 0700 and a socket of mode 0600 owned by
//! the network's owner, so only that user's processes reach it — never "any process that
//! can reach a loopback port" — and a socket left by a stopped `up` answers nothing.
//!
//! One request per connection: a message in, a message out, each a JSON line and the bytes
//! it carries (`cli::frame`). The wire types here are shared by the server (`cli::control`)
//! and this client, so both sides agree by construction.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use contracts::api::Call;
use contracts::client::{ClientError, Settle, Transport, View, ViewReply, WireError};
use ledger::proto::{ChannelConfig, Envelope};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::frame::{self, FrameError};

/// The directory of the control socket, inside the network's directory.
pub fn control_dir(dir: &Path) -> PathBuf {
    dir.join("up")
}

/// The control socket.
pub fn control_socket(dir: &Path) -> PathBuf {
    control_dir(dir).join("control.sock")
}

/// A contract call on a channel, as one carrier.
#[derive(Debug, Serialize, Deserialize)]
pub struct CallRequest {
    /// The carrier acting.
    pub as_carrier: CarrierId,
    /// The channel.
    pub channel: String,
    /// The contract function. Its encoded arguments are the request's attachments, in
    /// order.
    pub function: String,
}

/// What a client asks `up`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum Request {
    /// The carriers of the network.
    Orgs,
    /// A call that writes.
    Submit {
        /// The call.
        #[serde(flatten)]
        call: CallRequest,
        /// What it waits for once committed (the read models, when a client does not say).
        #[serde(default)]
        settle: Settle,
    },
    /// A call that reads.
    Evaluate(CallRequest),
    /// A question to a carrier's read model.
    View {
        /// The carrier asking.
        as_carrier: CarrierId,
        /// The question.
        view: View,
    },
    /// An admin's command (an organisation's node only).
    Admin(AdminRequest),
}

/// What an organisation's admin asks its own node (`node::admin`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "admin", rename_all = "snake_case")]
pub enum AdminRequest {
    /// The channels of the node's peer.
    Channels,
    /// The configuration in force of a channel of the node's peer.
    Config {
        /// The channel.
        channel: String,
    },
    /// A configuration envelope the admin signed, encoded, hex: an update of a channel of
    /// the peer's, or the creation of a channel.
    Configure {
        /// The envelope.
        envelope: String,
    },
}

/// What `up` answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The carriers.
    Orgs(Vec<CarrierId>),
    /// A call's reply: the answer's one attachment.
    Payload,
    /// A view's answer.
    View(ViewReply),
    /// The channels of an organisation's node.
    Channels(Vec<String>),
    /// A channel's configuration in force, encoded, hex; none when the peer is not a member.
    Config(Option<String>),
    /// A configuration change took effect: what happened.
    Configured(String),
    /// Why it failed, as the client classifies it.
    Error(WireError),
}

/// The most either side reads of a message's JSON line, and again of its attachments: a
/// transaction the ordering service takes, and room for what surrounds it.
pub fn message_limit(max_tx_bytes: u32) -> usize {
    max_tx_bytes as usize + (64 << 10)
}

/// The owner of the network or organisation in `dir` (of its `network.toml`, or of an
/// organisation directory's `org.json`): the only user whose server a command trusts.
#[cfg(unix)]
pub fn network_owner(dir: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let org = dir.join(node::org::ORG_FILE);
    let file = if org.exists() {
        org
    } else {
        dir.join("network.toml")
    };
    Ok(std::fs::metadata(file)?.uid())
}

/// The network served for `dir`, reached through `up`'s control socket.
pub struct Served {
    socket: PathBuf,
    /// The carriers as last asked (a node's change when a channel is created).
    members: std::sync::RwLock<Vec<CarrierId>>,
    limit: usize,
}

impl Served {
    /// The served network of `dir`, if an `iclear up` of the network's owner answers on its
    /// control socket; `None` when there is no socket or nothing listens on it.
    pub async fn find(dir: &Path) -> Result<Option<Served>, ClientError> {
        let socket = control_socket(dir);
        if !trusted(dir, &socket)? {
            return Ok(None);
        }
        let served = Served {
            socket,
            members: std::sync::RwLock::new(Vec::new()),
            limit: message_limit(u32::MAX / 2),
        };
        // A socket nobody listens on is a stopped server's: connecting is refused at once.
        // Anything else (a server that accepted and then said nothing) is asked again,
        // then reported: a command never opens the network behind a running server.
        let mut last = None;
        for pause_ms in [0u64, 50, 200, 500] {
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            let stream = match UnixStream::connect(&served.socket).await {
                Ok(stream) => stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => {
                    last = Some(served.unavailable(e));
                    continue;
                }
            };
            match served.exchange::<&[u8]>(stream, &Request::Orgs, &[]).await {
                Ok((answer, _)) => {
                    served.set_members(answer)?;
                    return Ok(Some(served));
                }
                Err(e @ ClientError::Unavailable(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            ClientError::Unavailable(format!("{}: no answer", served.socket.display()))
        }))
    }

    /// Keeps the carriers of the server's answer to [`Request::Orgs`].
    fn set_members(&self, answer: Response) -> Result<(), ClientError> {
        let members = match answer {
            Response::Orgs(members) => members,
            Response::Error(e) => return Err(e.into()),
            other => {
                return Err(ClientError::Fault(format!(
                    "the server answered {other:?} to a question for its carriers"
                )));
            }
        };
        *self.members.write().unwrap_or_else(|p| p.into_inner()) = members;
        Ok(())
    }

    fn unavailable(&self, e: std::io::Error) -> ClientError {
        ClientError::Unavailable(format!("{}: {e}", self.socket.display()))
    }

    async fn ask(&self, request: &Request) -> Result<Response, ClientError> {
        self.ask_with::<&[u8]>(request, &[])
            .await
            .map(|(answer, _)| answer)
    }

    /// Asks `request` with `attached` bytes; the answer and the bytes it carries.
    async fn ask_with<A: AsRef<[u8]>>(
        &self,
        request: &Request,
        attached: &[A],
    ) -> Result<(Response, Vec<Vec<u8>>), ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.exchange(stream, request, attached).await
    }

    /// One request and its answer on a connected stream.
    async fn exchange<A: AsRef<[u8]>>(
        &self,
        stream: UnixStream,
        request: &Request,
        attached: &[A],
    ) -> Result<(Response, Vec<Vec<u8>>), ClientError> {
        let unavailable = |e: std::io::Error| self.unavailable(e);
        let (read, mut write) = stream.into_split();
        frame::write(&mut write, request, attached)
            .await
            .map_err(unavailable)?;
        write.shutdown().await.map_err(unavailable)?;
        match frame::read(&mut BufReader::new(read), self.limit).await {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err(ClientError::Unavailable(format!(
                "{}: no answer",
                self.socket.display()
            ))),
            Err(FrameError::Io(e)) => Err(unavailable(e)),
            Err(FrameError::Malformed(e)) => Err(ClientError::Fault(format!(
                "`up`'s answer does not decode: {e}"
            ))),
        }
    }

    /// The channels of the organisation's node.
    pub async fn channels(&self) -> Result<Vec<String>, ClientError> {
        match self.ask(&Request::Admin(AdminRequest::Channels)).await? {
            Response::Channels(c) => Ok(c),
            Response::Error(e) => Err(e.into()),
            other => Err(ClientError::Fault(format!(
                "the node answered {other:?} to a question for its channels"
            ))),
        }
    }

    /// The configuration in force of `channel` on the organisation's node.
    pub async fn config(&self, channel: &str) -> Result<Option<ChannelConfig>, ClientError> {
        let request = Request::Admin(AdminRequest::Config {
            channel: channel.to_string(),
        });
        match self.ask(&request).await? {
            Response::Config(None) => Ok(None),
            Response::Config(Some(hex)) => hex::decode(hex)
                .ok()
                .and_then(|b| ChannelConfig::decode(b.as_slice()).ok())
                .map(Some)
                .ok_or_else(|| {
                    ClientError::Fault("the node's configuration does not decode".into())
                }),
            Response::Error(e) => Err(e.into()),
            other => Err(ClientError::Fault(format!(
                "the node answered {other:?} to a question for a configuration"
            ))),
        }
    }

    /// Has the organisation's node send `envelope` (a configuration change its admin
    /// signed) and wait until it took effect; what happened.
    pub async fn configure(&self, envelope: &Envelope) -> Result<String, ClientError> {
        let request = Request::Admin(AdminRequest::Configure {
            envelope: hex::encode(envelope.encode_to_vec()),
        });
        match self.ask(&request).await? {
            Response::Configured(what) => Ok(what),
            Response::Error(e) => Err(e.into()),
            other => Err(ClientError::Fault(format!(
                "the node answered {other:?} to a configuration change"
            ))),
        }
    }

    async fn call(&self, request: Request, args: &[Vec<u8>]) -> Result<Vec<u8>, ClientError> {
        match self.ask_with(&request, args).await? {
            (Response::Payload, reply) => <[Vec<u8>; 1]>::try_from(reply)
                .map(|[payload]| payload)
                .map_err(|r| {
                    ClientError::Fault(format!(
                        "`up`'s reply carries {} attachments, not one",
                        r.len()
                    ))
                }),
            (Response::Error(e), _) => Err(e.into()),
            (other, _) => Err(ClientError::Fault(format!(
                "`up` answered {other:?} to a call"
            ))),
        }
    }
}

/// Whether the control socket is the network owner's: its directory owned by them and
/// closed to everyone else, the socket theirs. A socket that fails these checks is an
/// error, not a fallback: somebody else put it there.
#[cfg(unix)]
fn trusted(dir: &Path, socket: &Path) -> Result<bool, ClientError> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let Ok(meta) = std::fs::symlink_metadata(socket) else {
        return Ok(false);
    };
    let owner = network_owner(dir)
        .map_err(|e| ClientError::Usage(format!("{}: no network here: {e}", dir.display())))?;
    let parent = std::fs::symlink_metadata(control_dir(dir))
        .map_err(|e| ClientError::Fault(e.to_string()))?;
    let fault = |why: &str| {
        Err(ClientError::Fault(format!(
            "{}: {why}; refusing to talk to it (remove it if no `iclear up` of yours runs)",
            socket.display()
        )))
    };
    if !parent.is_dir() || parent.uid() != owner || parent.mode() & 0o077 != 0 {
        return fault("its directory is not the network owner's alone");
    }
    if !meta.file_type().is_socket() || meta.uid() != owner {
        return fault("it is not a socket of the network's owner");
    }
    Ok(true)
}

#[async_trait]
impl Transport for Served {
    fn members(&self) -> Vec<CarrierId> {
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn refresh_members(&self) -> Result<(), ClientError> {
        let answer = self.ask(&Request::Orgs).await?;
        self.set_members(answer)
    }

    async fn submit(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
        settle: Settle,
    ) -> Result<Vec<u8>, ClientError> {
        let (request, args) = call_request(me, channel, call);
        self.call(
            Request::Submit {
                call: request,
                settle,
            },
            &args,
        )
        .await
    }

    async fn evaluate(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        let (request, args) = call_request(me, channel, call);
        self.call(Request::Evaluate(request), &args).await
    }

    async fn view(&self, me: CarrierId, view: View) -> Result<ViewReply, ClientError> {
        match self
            .ask(&Request::View {
                as_carrier: me,
                view,
            })
            .await?
        {
            Response::View(v) => Ok(v),
            Response::Error(e) => Err(e.into()),
            other => Err(ClientError::Fault(format!(
                "`up` answered {other:?} to a view"
            ))),
        }
    }
}

/// A call's request and its arguments, which travel as the request's attachments.
fn call_request(me: CarrierId, channel: &str, call: Call) -> (CallRequest, Vec<Vec<u8>>) {
    let request = CallRequest {
        as_carrier: me,
        channel: channel.to_string(),
        function: call.function.to_string(),
    };
    (request, call.args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The call and the wait of a submission request as the server reads it.
    fn submission(json: &str) -> (CallRequest, Settle) {
        match serde_json::from_str(json).unwrap() {
            Request::Submit { call, settle } => (call, settle),
            other => panic!("not a submission: {other:?}"),
        }
    }

    #[test]
    fn a_submission_from_a_client_that_does_not_say_what_it_waits_for_waits_for_the_views() {
        let call = r#""route":"submit","as_carrier":"alpha","channel":"alpha.beta","function":"usage.submit""#;
        let (unsaid, settle) = submission(&format!("{{{call}}}"));
        assert_eq!(
            (unsaid.function.as_str(), settle),
            ("usage.submit", Settle::Views)
        );
        let (said, settle) = submission(&format!(r#"{{{call},"settle":"ledger"}}"#));
        assert_eq!(
            (said.channel.as_str(), settle),
            ("alpha.beta", Settle::Ledger)
        );
        // And a client sends it beside the call's fields, as the server reads it.
        let sent = serde_json::to_value(Request::Submit {
            call: said,
            settle: Settle::Ledger,
        })
        .unwrap();
        assert_eq!(sent["settle"], "ledger");
        assert_eq!(sent["function"], "usage.submit");
    }
}
