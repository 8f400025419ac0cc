//! A network served by `iclear up`, reached over loopback HTTP: the typed client's
//! transport for commands run while `up` holds the network open. The wire types here are
//! shared by the server (`cli::up`) and this client, so both sides agree by construction.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use contracts::api::Call;
use contracts::client::{ClientError, Transport, View, ViewReply, WireError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;

/// The file that tells other commands where the network is served.
pub const UP_FILE: &str = "up.json";

/// What `up.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpFile {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The serving process.
    pub pid: u32,
}

/// A contract call on a channel, as one carrier.
#[derive(Debug, Serialize, Deserialize)]
pub struct CallRequest {
    /// The carrier acting.
    pub as_carrier: CarrierId,
    /// The channel.
    pub channel: String,
    /// The contract function.
    pub function: String,
    /// Its encoded arguments, hex.
    pub args: Vec<String>,
}

/// A question to a carrier's read model.
#[derive(Debug, Serialize, Deserialize)]
pub struct ViewRequest {
    /// The carrier asking.
    pub as_carrier: CarrierId,
    /// The question.
    pub view: View,
}

/// A call's reply payload, hex.
#[derive(Debug, Serialize, Deserialize)]
pub struct Payload {
    /// The contract's reply, hex.
    pub payload: String,
}

/// The network served for `dir`, reached through `up`.
pub struct Served {
    url: String,
    members: Vec<CarrierId>,
    agent: ureq::Agent,
}

/// A client that reads error bodies instead of turning statuses into errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

impl Served {
    /// The served network of `dir`, if `iclear up` is serving it there.
    pub async fn find(dir: &Path) -> Result<Option<Served>, ClientError> {
        let path = dir.join(UP_FILE);
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        let up: UpFile = serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Fault(format!("{}: unreadable: {e}", path.display())))?;
        let agent = agent();
        let (a, url) = (agent.clone(), format!("{}/v1/orgs", up.url));
        // A file left by an `up` that is gone: nothing serves the network.
        let members = tokio::task::spawn_blocking(move || -> Option<Vec<CarrierId>> {
            let mut r = a.get(&url).call().ok()?;
            (r.status() == 200).then_some(())?;
            r.body_mut().read_json().ok()
        })
        .await
        .map_err(|e| ClientError::Fault(e.to_string()))?;
        Ok(members.map(|members| Served {
            url: up.url,
            members,
            agent,
        }))
    }

    async fn post<B: Serialize + Send + 'static, R: DeserializeOwned + Send + 'static>(
        &self,
        route: &str,
        body: B,
    ) -> Result<R, ClientError> {
        let (agent, url) = (self.agent.clone(), format!("{}/v1/{route}", self.url));
        tokio::task::spawn_blocking(move || {
            let unavailable = |e: String| ClientError::Unavailable(format!("{url}: {e}"));
            let mut r = agent
                .post(&url)
                .send_json(&body)
                .map_err(|e| unavailable(e.to_string()))?;
            if r.status() == 200 {
                r.body_mut()
                    .read_json()
                    .map_err(|e| ClientError::Fault(format!("{url}: reply unreadable: {e}")))
            } else {
                let status = r.status();
                let wire: WireError = r.body_mut().read_json().map_err(|e| {
                    ClientError::Fault(format!("{url}: status {status}, body unreadable: {e}"))
                })?;
                Err(ClientError::from(wire))
            }
        })
        .await
        .map_err(|e| ClientError::Fault(e.to_string()))?
    }

    async fn call(
        &self,
        route: &str,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        let req = CallRequest {
            as_carrier: me,
            channel: channel.to_string(),
            function: call.function.to_string(),
            args: call.args.iter().map(hex::encode).collect(),
        };
        let reply: Payload = self.post(route, req).await?;
        hex::decode(reply.payload)
            .map_err(|e| ClientError::Fault(format!("the served reply is not hex: {e}")))
    }
}

#[async_trait]
impl Transport for Served {
    fn members(&self) -> Vec<CarrierId> {
        self.members.clone()
    }

    async fn submit(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        self.call("submit", me, channel, call).await
    }

    async fn evaluate(
        &self,
        me: CarrierId,
        channel: &str,
        call: Call,
    ) -> Result<Vec<u8>, ClientError> {
        self.call("evaluate", me, channel, call).await
    }

    async fn view(&self, me: CarrierId, view: View) -> Result<ViewReply, ClientError> {
        self.post(
            "view",
            ViewRequest {
                as_carrier: me,
                view,
            },
        )
        .await
    }
}
