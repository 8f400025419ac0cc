//! The dashboard: per partner, service and period, what each side reported, the variance,
//! the statement, open disputes and the balance, with charts and the same numbers in
//! tables; and the alarms.

use std::collections::BTreeMap;

use actix_web::web;
use askama::Template;
use contracts::client::ClientError;
use contracts::readmodel::DailyTraffic;
use contracts::{Balance, DisputeRecord, StatementIssued, api};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use settlement::carrier::CarrierId;
use settlement::period::Period;
use settlement::service::Service;
use settlement::time::{civil_from_days, days_from_civil};

use super::{Frame, PageCaller, PageResult, html, signed_in};
use crate::charts::{Series, bars, hbars};
use crate::errors::PortalError;
use crate::reconciliation::{self, Line};
use crate::{Caller, Portal};

/// The dashboard's query.
#[derive(Debug, Default, Deserialize)]
pub struct Query {
    partner: Option<String>,
    service: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// One direction's figures as one side reported them.
pub struct Reported {
    direction: String,
    reporter: String,
    records: u64,
    units: u64,
    charge: Decimal,
}

/// One direction's variance.
pub struct Variance {
    direction: String,
    payer_charge: Decimal,
    payee_charge: Decimal,
    variance: Decimal,
    pct: String,
}

/// One day's figures of the caller's view.
pub struct Day {
    day: String,
    records: u64,
    units: u64,
    charge: Decimal,
    partner_records: u64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    page: Frame,
    partners: Vec<String>,
    partner: String,
    service: String,
    from: String,
    to: String,
    reported: Vec<Reported>,
    variances: Vec<Variance>,
    statements: Vec<StatementIssued>,
    open_disputes: Vec<DisputeRecord>,
    balances: Vec<Balance>,
    days: Vec<Day>,
    traffic_svg: String,
    outcomes: Vec<(String, u64)>,
    outcomes_svg: String,
    largest: Vec<Line>,
    largest_svg: String,
    alarms: Vec<String>,
}

fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
        .div_euclid(86_400)
}

fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The previous calendar month, the default period.
fn last_month() -> (String, String) {
    let (y, m, _) = civil_from_days(today());
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    (
        date(days_from_civil(py, pm, 1)),
        date(days_from_civil(y, m, 1)),
    )
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// A certificate of the carrier's expiring within this many days is an alarm (SPEC §13).
const CERT_ALARM_DAYS: u32 = 30;

/// `GET /?partner=&service=&from=&to=`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller, q: web::Query<Query>) -> PageResult {
    let caller = signed_in(caller)?;
    let q = q.into_inner();
    let c = p.client(&caller)?;
    let partners = c.partners();
    let with = match q.partner.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => crate::api::partner(&caller, &partners, t)?,
        None => *partners
            .first()
            .ok_or_else(|| PortalError::NotFound("this carrier has no partner yet".into()))?,
    };
    let service: Service = q
        .service
        .as_deref()
        .unwrap_or("voice")
        .parse()
        .map_err(|e| PortalError::field("service", format!("{e}")))?;
    let (dfrom, dto) = last_month();
    let from = q.from.filter(|s| !s.is_empty()).unwrap_or(dfrom);
    let to = q.to.filter(|s| !s.is_empty()).unwrap_or(dto);
    let period =
        Period::parse(&from, &to).map_err(|e| PortalError::field("from", e.to_string()))?;
    let me = caller.carrier();
    // The page's data as of the channel's read model: cached until the next block (or the
    // next day, since the alarms look ahead from today).
    let c = p.client(&caller)?;
    let version = p
        .run(async move { Ok(c.savepoint(with).await?) })
        .await?
        .map_or(0, |h| h.saturating_add(1));
    let key = format!("{me}|{with}|{service}|{from}|{to}|{}", today());
    let data = p
        .dashboards
        .get(key, version, || {
            gather(&p, &caller, with, service, period.clone())
        })
        .await?;
    let mut dash = build(&caller, partners, with, service, &from, &to, me, &data);
    dash.alarms
        .extend(crate::certs::expiring(&p.certificates, me, CERT_ALARM_DAYS));
    html(actix_web::http::StatusCode::OK, &dash)
}

/// What the dashboard reads, through the client.
pub struct Data {
    daily: Vec<DailyTraffic>,
    statements: Vec<StatementIssued>,
    disputes: Vec<DisputeRecord>,
    balances: Vec<Balance>,
    threshold_pct: Decimal,
    lines: Vec<Line>,
    /// Discrepancies per outcome, from the statement's summary.
    outcomes: Vec<(String, u64)>,
    partner_sheets: Vec<String>,
}

async fn gather(
    p: &Portal,
    caller: &Caller,
    with: CarrierId,
    service: Service,
    period: Period,
) -> Result<Data, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let range = period.start_seconds();
        let me = c.me();
        // The independent questions go side by side.
        let daily = async {
            Ok::<_, PortalError>(
                c.daily_traffic(Some(with), range.start, range.end)
                    .await?
                    .into_iter()
                    .filter(|d| d.service == service.as_str())
                    .collect::<Vec<_>>(),
            )
        };
        let statements = async {
            Ok(c.statements(Some(with))
                .await?
                .into_iter()
                .filter(|s| s.id.service == service && s.id.period == period)
                .collect::<Vec<_>>())
        };
        let disputes = async {
            Ok(c.disputes(Some(with))
                .await?
                .into_iter()
                .filter(|d| !d.dispute.state.is_final())
                .collect::<Vec<_>>())
        };
        let balances = async {
            Ok(
                c.call::<api::GetBalance>(with, contracts::BalanceQuery { a: me, b: with })
                    .await?,
            )
        };
        let threshold_pct = async {
            Ok(c.call::<api::GetAgreement>(with, ())
                .await?
                .in_force
                .threshold_pct())
        };
        let sheet = |counterparty| {
            let c = c.clone();
            async move {
                let q = contracts::SheetQuery {
                    owner: with,
                    service,
                    counterparty,
                };
                match c.call::<api::GetSheet>(with, q).await {
                    Ok(s) => Ok(Some(s.csv)),
                    Err(ClientError::Refused(_)) => Ok(None),
                    Err(e) => Err(PortalError::from(e)),
                }
            }
        };
        let (daily, statements, disputes, balances, threshold_pct, general, own) = tokio::try_join!(
            daily,
            statements,
            disputes,
            balances,
            threshold_pct,
            sheet(None),
            sheet(Some(me))
        )?;
        // The statement's lines for the largest variances; the counts per outcome are in
        // its summary, so the month's records are not read for the page.
        let (mut lines, mut outcomes) = (Vec::new(), Vec::new());
        if let Some(s) = statements.first() {
            let st = c.call::<api::GetStatement>(with, s.id.clone()).await?;
            lines = reconciliation::lines(&st.statement_csv)?;
            outcomes = reconciliation::discrepancy_counts(&s.summary_json)?;
        }
        Ok(Data {
            daily,
            statements,
            disputes,
            balances,
            threshold_pct,
            lines,
            outcomes,
            partner_sheets: general.into_iter().chain(own).collect(),
        })
    })
    .await
}

/// Rows of a partner's sheet whose price starts within the next `days` days.
fn upcoming_changes(csv_text: &str, days: i64) -> Vec<String> {
    let now = today();
    let mut out = Vec::new();
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let Ok(headers) = r.headers().cloned() else {
        return out;
    };
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (Some(fi), Some(di), Some(ri)) = (col("effective_from"), col("destination"), col("rate"))
    else {
        return out;
    };
    for rec in r.records().flatten() {
        let from = rec.get(fi).unwrap_or_default();
        let Some(day) = from.get(..10).and_then(|d| {
            let y = d.get(..4)?.parse().ok()?;
            let m = d.get(5..7)?.parse().ok()?;
            let dd = d.get(8..10)?.parse().ok()?;
            Some(days_from_civil(y, m, dd))
        }) else {
            continue;
        };
        if day >= now && day <= now + days {
            out.push(format!(
                "{} at {} from {}",
                rec.get(di).unwrap_or_default(),
                rec.get(ri).unwrap_or_default(),
                from
            ));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn build(
    caller: &Caller,
    partners: Vec<CarrierId>,
    with: CarrierId,
    service: Service,
    from: &str,
    to: &str,
    me: CarrierId,
    d: &Data,
) -> Dashboard {
    // Per direction and reporter.
    let mut rep: BTreeMap<(String, String), (u64, u64, Decimal)> = BTreeMap::new();
    let mut per_day: BTreeMap<String, Day> = BTreeMap::new();
    for t in &d.daily {
        let e = rep
            .entry((format!("{} → {}", t.payer, t.payee), t.reporter.to_string()))
            .or_default();
        e.0 += t.records;
        e.1 += t.units;
        e.2 += t.charge;
        let day = per_day.entry(t.day.clone()).or_insert_with(|| Day {
            day: t.day.clone(),
            records: 0,
            units: 0,
            charge: Decimal::ZERO,
            partner_records: 0,
        });
        if t.reporter == me {
            day.records += t.records;
            day.units += t.units;
            day.charge += t.charge;
        } else {
            day.partner_records += t.records;
        }
    }
    let reported: Vec<Reported> = rep
        .iter()
        .map(
            |((direction, reporter), (records, units, charge))| Reported {
                direction: direction.clone(),
                reporter: reporter.clone(),
                records: *records,
                units: *units,
                charge: *charge,
            },
        )
        .collect();
    let mut alarms = Vec::new();
    let mut variances = Vec::new();
    for (payer, payee) in [(me, with), (with, me)] {
        let dir = format!("{payer} → {payee}");
        let side = |r: CarrierId| {
            rep.get(&(dir.clone(), r.to_string()))
                .map(|x| x.2)
                .unwrap_or_default()
        };
        let (pc, ec) = (side(payer), side(payee));
        if pc.is_zero() && ec.is_zero() {
            continue;
        }
        let variance = ec - pc;
        let pct = if ec.is_zero() {
            None
        } else {
            Some((variance * Decimal::from(100) / ec).round_dp(2))
        };
        if let Some(x) = pct
            && x.abs() > d.threshold_pct
        {
            alarms.push(format!(
                "{dir}: the charges as reported differ by {x} %, above the agreement's threshold of {} %",
                d.threshold_pct
            ));
        }
        variances.push(Variance {
            direction: dir,
            payer_charge: pc,
            payee_charge: ec,
            variance,
            pct: pct.map(|x| format!("{x} %")).unwrap_or_else(|| "—".into()),
        });
    }
    let days: Vec<Day> = per_day.into_values().collect();
    let silent: Vec<&str> = days
        .iter()
        .filter(|x| x.records > 0 && x.partner_records == 0)
        .map(|x| x.day.as_str())
        .collect();
    if !silent.is_empty() {
        alarms.push(format!(
            "{with} sent no CDRs on {} day(s) with traffic: {}",
            silent.len(),
            silent
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for sheet in &d.partner_sheets {
        let changes = upcoming_changes(sheet, 7);
        if !changes.is_empty() {
            alarms.push(format!(
                "{with}'s rates change within 7 days: {}",
                changes
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    let labels: Vec<String> = days
        .iter()
        .map(|x| x.day.get(5..).unwrap_or(&x.day).to_string())
        .collect();
    let traffic_svg = bars(
        "Daily records and charges as you reported them",
        &labels,
        &[
            Series {
                name: "records",
                colour: "#3a6fb5",
                values: days.iter().map(|x| x.records as f64).collect(),
            },
            Series {
                name: "charge",
                colour: "#c77b00",
                values: days.iter().map(|x| f(x.charge)).collect(),
            },
        ],
    );
    let outcomes = d.outcomes.clone();
    let outcomes_svg = hbars(
        "Discrepancies by outcome",
        &outcomes
            .iter()
            .map(|(o, n)| (o.clone(), *n as f64))
            .collect::<Vec<_>>(),
    );
    let largest = reconciliation::largest_variance(&d.lines, 10);
    let largest_svg = hbars(
        "Destinations with the largest variance",
        &largest
            .iter()
            .map(|l| (l.destination.clone(), f(l.variance)))
            .collect::<Vec<_>>(),
    );
    Dashboard {
        page: Frame::new(caller, "Dashboard", "dashboard"),
        partners: partners.iter().map(|x| x.to_string()).collect(),
        partner: with.to_string(),
        service: service.as_str().to_string(),
        from: from.to_string(),
        to: to.to_string(),
        reported,
        variances,
        statements: d.statements.clone(),
        open_disputes: d.disputes.clone(),
        balances: d.balances.clone(),
        days,
        traffic_svg,
        outcomes,
        outcomes_svg,
        largest,
        largest_svg,
        alarms,
    }
}
