//! Reconciliation: issued statements, issuing one, and a statement's lines and
//! discrepancies (filtered by outcome, destination and date, paged) with its downloads.

use actix_web::web;
use askama::Template;
use contracts::{IssuedStatement, StatementIssued, api};
use serde::Deserialize;

use super::{Frame, PageCaller, PageResult, form_change, html, signed_in};
use crate::api::statements::{Scope, get_statement, issue_statement};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::reconciliation::{self, Discrepancy, Filter, Line, PAGE};
use crate::{Caller, Portal};

#[derive(Template)]
#[template(path = "statements.html")]
struct Statements {
    page: Frame,
    statements: Vec<StatementIssued>,
    carriers: Vec<String>,
}

async fn render(
    p: &Portal,
    caller: &Caller,
    outcome: Option<Result<String, PortalError>>,
) -> PageResult {
    let mut page = Frame::new(caller, "Reconciliation", "statements");
    let status = page.outcome(outcome);
    let c = p.client(caller)?;
    let mut carriers = vec![c.me().to_string()];
    carriers.extend(c.partners().iter().map(|x| x.to_string()));
    let statements = p.run(async move { Ok(c.statements(None).await?) }).await?;
    html(
        status,
        &Statements {
            page,
            statements,
            carriers,
        },
    )
}

/// `GET /statements`.
pub async fn page(p: web::Data<Portal>, caller: PageCaller) -> PageResult {
    let caller = signed_in(caller)?;
    render(&p, &caller, None).await
}

/// The issue form.
#[derive(Debug, Deserialize)]
pub struct IssueForm {
    csrf: String,
    payer: String,
    payee: String,
    service: String,
    from: String,
    to: String,
}

fn scope(
    payer: &str,
    payee: &str,
    service: &str,
    from: &str,
    to: &str,
) -> Result<Scope, PortalError> {
    let carrier = |field: &str, t: &str| {
        t.parse()
            .map_err(|_| PortalError::field(field, format!("`{t}` is not a carrier")))
    };
    Ok(Scope {
        payer: carrier("payer", payer)?,
        payee: carrier("payee", payee)?,
        service: service
            .parse()
            .map_err(|e| PortalError::field("service", format!("{e}")))?,
        from: from.trim().to_string(),
        to: to.trim().to_string(),
    })
}

/// `POST /statements`.
pub async fn issue(
    p: web::Data<Portal>,
    caller: PageCaller,
    f: web::Form<IssueForm>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let outcome = async {
        form_change(&caller, &f.csrf, Need::Settle, "issue a statement")?;
        let s = scope(&f.payer, &f.payee, &f.service, &f.from, &f.to)?;
        let out = issue_statement(&p, &caller, s).await?;
        Ok(format!(
            "Statement issued: {} bills {} {} ({}).",
            out.id.payee, out.amount_billed, out.currency, out.status
        ))
    }
    .await;
    render(&p, &caller, Some(outcome)).await
}

#[derive(Template)]
#[template(path = "statement.html")]
struct StatementView {
    page: Frame,
    st: IssuedStatement,
    base: String,
    lines: Vec<Line>,
    rows: Vec<Discrepancy>,
    matching: usize,
    outcomes: Vec<(String, u64)>,
    filter: Filter,
    page_no: usize,
    pages: usize,
    query: String,
}

/// A statement's scope and the discrepancy filter.
#[derive(Debug, Deserialize)]
pub struct ViewQuery {
    payer: String,
    payee: String,
    service: String,
    from: String,
    to: String,
    outcome: Option<String>,
    destination: Option<String>,
    date: Option<String>,
    page: Option<usize>,
}

/// `GET /statements/view?payer=&payee=&service=&from=&to=[&outcome=&destination=&date=&page=]`.
pub async fn view(
    p: web::Data<Portal>,
    caller: PageCaller,
    q: web::Query<ViewQuery>,
) -> PageResult {
    let caller = signed_in(caller)?;
    let q = q.into_inner();
    let filter = Filter {
        outcome: q.outcome.clone(),
        destination: q.destination.clone(),
        date: q.date.clone(),
        page: q.page,
    };
    let s = scope(&q.payer, &q.payee, &q.service, &q.from, &q.to)
        .map_err(|e| PortalError::NotFound(e.to_string()))?;
    let st = get_statement(&p, &caller, s.clone()).await?;
    let c = p.client(&caller)?;
    let (id, other) = s.id(&caller, &c.partners())?;
    let rated = p
        .run(async move { Ok(c.call::<api::Rated>(other, id).await?) })
        .await?;
    let lines = reconciliation::lines(&st.statement_csv)?;
    let dest = reconciliation::destinations(&rated, st.id.payer.as_str())?;
    let all = reconciliation::discrepancies(&st.discrepancies_csv, &dest)?;
    let (rows, matching) = reconciliation::filter(&all, &filter);
    let page_no = filter.page.unwrap_or(1).max(1);
    let pages = matching.div_ceil(PAGE).max(1);
    let base = format!(
        "/api/v1/statements/{}/{}/{}/{}/{}",
        st.id.payer,
        st.id.payee,
        st.id.service,
        st.id.period.from_text(),
        st.id.period.to_text()
    );
    let query = format!(
        "payer={}&payee={}&service={}&from={}&to={}&outcome={}&destination={}&date={}",
        st.id.payer,
        st.id.payee,
        st.id.service,
        super::enc(st.id.period.from_text()),
        super::enc(st.id.period.to_text()),
        super::enc(filter.outcome.as_deref().unwrap_or_default()),
        super::enc(filter.destination.as_deref().unwrap_or_default()),
        super::enc(filter.date.as_deref().unwrap_or_default())
    );
    let page = Frame::new(&caller, "Statement", "statements");
    let outcomes = reconciliation::by_outcome(&all);
    html(
        actix_web::http::StatusCode::OK,
        &StatementView {
            page,
            st,
            base,
            lines,
            rows,
            matching,
            outcomes,
            filter,
            page_no,
            pages,
            query,
        },
    )
}
