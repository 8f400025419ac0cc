//! Ratesheets (in force, with versions; publish) and deals (propose, accept, withdraw).

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::api::Function;
use contracts::client::{Clearing, ClientError};
use contracts::readmodel::views::Kind;
use contracts::{
    DealId, DealRecord, ProposeDeal, PublishRatesheet, SheetQuery, StoredSheet, Terms, api,
};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::{Currency, Rounding};
use settlement::service::Service;

use super::{Created, partner};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// The services a sheet may price.
const SERVICES: [&str; 3] = ["voice", "sms", "data"];

/// A sheet in force as the caller sees it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SheetView {
    /// The channel's partner it was read on.
    pub partner: CarrierId,
    /// The sheet, its version and its publications.
    pub sheet: StoredSheet,
}

/// Every sheet in force on the caller's channels: its own and its partners', general and
/// for the pair.
pub async fn sheets(p: &Portal, caller: &Caller) -> Result<Vec<SheetView>, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let mut out = Vec::new();
        for with in c.partners() {
            for owner in [c.me(), with] {
                let other = if owner == c.me() { with } else { c.me() };
                for service in SERVICES {
                    let service: Service = service
                        .parse()
                        .map_err(|_| PortalError::Fault(format!("{service} is not a service")))?;
                    for counterparty in [None, Some(other)] {
                        let q = SheetQuery {
                            owner,
                            service,
                            counterparty,
                        };
                        match c.call::<api::GetSheet>(with, q).await {
                            Ok(sheet) => out.push(SheetView {
                                partner: with,
                                sheet,
                            }),
                            Err(ClientError::Refused(_)) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
        }
        Ok(out)
    })
    .await
}

/// `GET /api/v1/ratesheets`.
#[utoipa::path(get, path = "/api/v1/ratesheets", tag = "ratesheets", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(sheets(&p, &caller).await?))
}

/// `POST /api/v1/ratesheets`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublishQuery {
    /// voice, sms or data.
    #[param(value_type = String)]
    pub service: Service,
    /// ISO 4217.
    #[param(value_type = String)]
    pub currency: Currency,
    /// One partner only (default: every partner).
    #[param(value_type = Option<String>)]
    pub counterparty: Option<CarrierId>,
    /// Decimals of a charge (default 4).
    pub decimals: Option<u32>,
    /// half_up (default), half_even, up or down.
    #[param(value_type = Option<String>)]
    pub rounding: Option<Rounding>,
}

/// One channel's publication.
#[derive(Debug, Serialize, Deserialize)]
pub struct PublishedOn {
    /// The partner.
    pub partner: CarrierId,
    /// The version made.
    pub version: u32,
    /// Rows in force.
    pub rows: usize,
}

/// The channels a publication goes to (each partner's, or the one it is for) and its terms.
pub fn publication(
    caller: &Caller,
    c: &Clearing,
    q: PublishQuery,
) -> Result<(Vec<CarrierId>, Terms), PortalError> {
    let partners = match q.counterparty {
        Some(cp) => vec![partner(caller, &c.partners(), cp.as_str())?],
        None => c.partners(),
    };
    let terms = Terms {
        owner: c.me(),
        service: q.service,
        currency: q.currency,
        counterparty: q.counterparty,
        decimals: q.decimals.unwrap_or(4),
        rounding: q.rounding.unwrap_or(Rounding::HalfUp),
    };
    Ok((partners, terms))
}

/// Calls `F` with a publication on each partner's channel it goes to (or one), in turn.
pub async fn on_each_channel<F>(
    p: &Portal,
    caller: &Caller,
    q: PublishQuery,
    csv: Vec<u8>,
) -> Result<Vec<(CarrierId, F::Reply)>, PortalError>
where
    F: Function<Request = PublishRatesheet>,
    F::Reply: Send + 'static,
{
    let c = p.client(caller)?;
    let (partners, terms) = publication(caller, &c, q)?;
    p.run(async move {
        let mut out = Vec::new();
        for with in partners {
            let req = PublishRatesheet {
                terms: terms.clone(),
                csv: csv.clone(),
            };
            out.push((with, c.call::<F>(with, req).await?));
        }
        Ok(out)
    })
    .await
}

/// Publishes a sheet as the caller's carrier, on each partner's channel (or one).
pub async fn publish_sheet(
    p: &Portal,
    caller: &Caller,
    q: PublishQuery,
    csv: Vec<u8>,
) -> Result<Vec<PublishedOn>, PortalError> {
    Ok(on_each_channel::<api::PublishSheet>(p, caller, q, csv)
        .await?
        .into_iter()
        .map(|(partner, r)| PublishedOn {
            partner,
            version: r.version,
            rows: r.rows,
        })
        .collect())
}

/// `POST /api/v1/ratesheets?service=&currency=[&counterparty=&decimals=&rounding=]`, body:
/// the CSV.
#[utoipa::path(post, path = "/api/v1/ratesheets", tag = "ratesheets", params(PublishQuery), request_body(content = String, content_type = "text/csv"), responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn publish(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    q: web::Query<PublishQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "publish a ratesheet")?;
    let out = publish_sheet(&p, &caller, q.into_inner(), body.to_vec()).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /api/v1/deals`.
#[utoipa::path(get, path = "/api/v1/deals", tag = "deals", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn deals(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let c = p.client(&caller)?;
    let list: Vec<DealRecord> = p.run(async move { Ok(c.deals(None).await?) }).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /api/v1/deals/progress`: each deal in force, each commitment's volume so far as
/// each carrier reported it.
#[utoipa::path(get, path = "/api/v1/deals/progress", tag = "deals", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn progress(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let c = p.client(&caller)?;
    let list = p
        .run(async move { Ok(c.deal_progress(None).await?) })
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Proposes a deal file to its other party; returns the deal's id.
pub async fn propose(p: &Portal, caller: &Caller, toml: String) -> Result<String, PortalError> {
    let c = p.client(caller)?;
    let deal = settlement::deal::Deal::parse(&toml)
        .map_err(|e| PortalError::field("toml", format!("the deal is refused: {e}")))?;
    let other = deal
        .parties
        .iter()
        .copied()
        .find(|x| *x != c.me())
        .filter(|_| deal.parties.contains(&c.me()))
        .ok_or_else(|| {
            PortalError::field("toml", format!("{} is not a party of this deal", c.me()))
        })?;
    let other = partner(caller, &c.partners(), other.as_str())?;
    p.run(async move {
        Ok(c.call::<api::ProposeDealFn>(other, ProposeDeal { toml })
            .await?
            .id)
    })
    .await
}

/// `POST /api/v1/deals`, body: TOML.
#[utoipa::path(post, path = "/api/v1/deals", tag = "deals", request_body(content = String, content_type = "text/plain"), responses((status = 201, body = super::Created), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn propose_deal(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "propose a deal")?;
    let toml = String::from_utf8(body.to_vec())
        .map_err(|_| PortalError::field("toml", "the deal file is not UTF-8"))?;
    let id = propose(&p, &caller, toml).await?;
    Ok(HttpResponse::Created().json(Created { id }))
}

/// Accepts or withdraws a deal of the caller's channels.
pub async fn decide(
    p: &Portal,
    caller: &Caller,
    id: String,
    accept: bool,
) -> Result<DealRecord, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let with = c
            .locate(Kind::Deal, &id)
            .await
            .map_err(PortalError::absent)?;
        let r = if accept {
            c.call::<api::AcceptDeal>(with, DealId { id }).await?
        } else {
            c.call::<api::WithdrawDeal>(with, DealId { id }).await?
        };
        Ok(r)
    })
    .await
}

/// `POST /api/v1/deals/{id}/accept`.
#[utoipa::path(post, path = "/api/v1/deals/{id}/accept", tag = "deals", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn accept_deal(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "accept a deal")?;
    Ok(HttpResponse::Ok().json(decide(&p, &caller, id.into_inner(), true).await?))
}

/// `POST /api/v1/deals/{id}/withdraw`.
#[utoipa::path(post, path = "/api/v1/deals/{id}/withdraw", tag = "deals", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn withdraw_deal(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "withdraw a deal")?;
    Ok(HttpResponse::Ok().json(decide(&p, &caller, id.into_inner(), false).await?))
}
