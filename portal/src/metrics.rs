//! `/healthz` and Prometheus `/metrics`: requests by route and status, latency histograms
//! by route, the ledger's height per channel and the portal's uploads in flight.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::Portal;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Request counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Counts one request of `route` that answered `status` in `seconds`.
    pub fn observe(&self, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.inner.lock() else { return };
        *m.requests.entry((route.to_string(), status)).or_default() += 1;
        let h = m.latency.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// The Prometheus text of the counters.
    pub fn render(&self, out: &mut String) {
        let Ok(m) = self.inner.lock() else { return };
        out.push_str("# HELP portal_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE portal_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "portal_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP portal_request_seconds Request latency by route.\n");
        out.push_str("# TYPE portal_request_seconds histogram\n");
        for (route, h) in &m.latency {
            let r = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "portal_request_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "portal_request_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "portal_request_seconds_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(
                out,
                "portal_request_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The middleware: times every request under its route's pattern (not its path, so ids do
/// not blow the label set up).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let portal = req.app_data::<web::Data<Portal>>().cloned();
    let res = next.call(req).await?;
    if let Some(p) = portal {
        p.metrics
            .observe(&route, res.status().as_u16(), start.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// `GET /healthz`.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `GET /metrics`.
pub async fn prometheus(portal: web::Data<Portal>) -> HttpResponse {
    let mut out = String::new();
    portal.metrics.render(&mut out);
    if let Some(status) = portal.heights.clone() {
        let channels = portal
            .run(async move { Ok(status.channels().await) })
            .await
            .unwrap_or_default();
        out.push_str("# HELP ledger_height Blocks committed, per peer and channel.\n");
        out.push_str("# TYPE ledger_height gauge\n");
        for c in &channels {
            let _ = writeln!(
                out,
                "ledger_height{{org=\"{}\",channel=\"{}\"}} {}",
                escape(&c.org),
                escape(&c.channel),
                c.height
            );
        }
        out.push_str(
            "# HELP readmodel_lag_blocks Blocks committed but not yet in the read model.\n",
        );
        out.push_str("# TYPE readmodel_lag_blocks gauge\n");
        for c in &channels {
            let _ = writeln!(
                out,
                "readmodel_lag_blocks{{org=\"{}\",channel=\"{}\"}} {}",
                escape(&c.org),
                escape(&c.channel),
                c.height.saturating_sub(c.applied)
            );
        }
    }
    streams(&portal, &mut out).await;
    let _ = writeln!(
        out,
        "# HELP portal_uploads_running CDR uploads being submitted.\n# TYPE portal_uploads_running gauge\nportal_uploads_running {}",
        portal.uploads.running()
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

/// Each Kafka partition the portal's carriers stream from, as the ledger holds it (SPEC §12):
/// the position and the messages per outcome; and, when the portal knows the brokers, the
/// lag behind them.
async fn streams(portal: &Portal, out: &mut String) {
    let transport = portal.transport.clone();
    let rows = portal
        .run(async move {
            let mut rows = Vec::new();
            for me in transport.acts_for() {
                let c = contracts::client::Clearing::new(transport.clone(), me)?;
                // Each row is on both carriers' ledgers: its reporter's read is the one kept.
                rows.extend(
                    c.streams(None)
                        .await?
                        .into_iter()
                        .filter(|r| r.reporter == me),
                );
            }
            Ok(rows)
        })
        .await;
    out.push_str("# HELP iclear_stream_position The next offset of a Kafka partition the ledger holds, per channel.\n");
    out.push_str("# TYPE iclear_stream_position gauge\n");
    out.push_str("# HELP iclear_stream_messages_total Messages of a partition counted on the ledger, by outcome and reason.\n");
    out.push_str("# TYPE iclear_stream_messages_total counter\n");
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = writeln!(
                out,
                "# the stream positions could not be read: {}\nportal_metrics_errors{{part=\"streams\"}} 1",
                e.to_string().replace('\n', " ")
            );
            return;
        }
    };
    let lags = match &portal.kafka_brokers {
        Some(brokers) => {
            let parts = rows
                .iter()
                .map(|r| (r.topic.clone(), r.partition, r.next))
                .collect();
            match ingest::kafka::lags(brokers, parts).await {
                Ok(lags) => Some(lags),
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "# the brokers' offsets could not be read: {}\nportal_metrics_errors{{part=\"stream_lag\"}} 1",
                        e.to_string().replace('\n', " ")
                    );
                    None
                }
            }
        }
        None => None,
    };
    if lags.is_some() {
        out.push_str("# HELP iclear_stream_lag Messages on the broker after the position the ledger holds, per channel.\n");
        out.push_str("# TYPE iclear_stream_lag gauge\n");
    }
    for (i, r) in rows.iter().enumerate() {
        let labels = format!(
            "carrier=\"{}\",channel=\"{}\",topic=\"{}\",partition=\"{}\"",
            escape(r.reporter.as_str()),
            escape(&r.channel),
            escape(&r.topic),
            r.partition
        );
        let _ = writeln!(out, "iclear_stream_position{{{labels}}} {}", r.next);
        if let Some(lag) = lags.as_ref().and_then(|l| l.get(i)) {
            let _ = writeln!(out, "iclear_stream_lag{{{labels}}} {lag}");
        }
        let _ = writeln!(
            out,
            "iclear_stream_messages_total{{{labels},outcome=\"accepted\",reason=\"\"}} {}",
            r.accepted
        );
        for (reason, n) in &r.rejected {
            let _ = writeln!(
                out,
                "iclear_stream_messages_total{{{labels},outcome=\"rejected\",reason=\"{}\"}} {n}",
                escape(reason)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        m.observe("/api/v1/me", 200, 0.003);
        m.observe("/api/v1/me", 200, 0.2);
        m.observe("/api/v1/me", 401, 0.0001);
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("portal_requests_total{route=\"/api/v1/me\",status=\"200\"} 2"));
        assert!(s.contains("portal_requests_total{route=\"/api/v1/me\",status=\"401\"} 1"));
        assert!(s.contains("portal_request_seconds_bucket{route=\"/api/v1/me\",le=\"0.005\"} 2"));
        assert!(s.contains("portal_request_seconds_count{route=\"/api/v1/me\"} 3"));
    }
}
