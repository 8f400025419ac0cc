//! Payments and balances.

use actix_web::{HttpRequest, HttpResponse, web};
use contracts::readmodel::views::Kind;
use contracts::{Balance, BalanceQuery, PaymentId, PaymentRecord, PaymentRequest, api};
use rust_decimal::Decimal;
use serde::Deserialize;
use settlement::carrier::CarrierId;
use settlement::money::Currency;

use super::{Created, partner};
use crate::auth::Need;
use crate::errors::PortalError;
use crate::{Caller, Portal};

/// `POST /api/v1/payments`'s body: a payment the caller made.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PaymentBody {
    /// Who was paid.
    #[schema(value_type = String)]
    pub payee: CarrierId,
    /// How much.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// In what.
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Value date, `YYYY-MM-DD`.
    pub date: String,
    /// The bank reference.
    pub reference: String,
}

/// Records a payment the caller made.
pub async fn record_payment(
    p: &Portal,
    caller: &Caller,
    b: PaymentBody,
) -> Result<PaymentRecord, PortalError> {
    let c = p.client(caller)?;
    let payee = partner(caller, &c.partners(), b.payee.as_str())?;
    let req = PaymentRequest {
        payee,
        amount: b.amount,
        currency: b.currency,
        date: b.date,
        reference: b.reference,
    };
    p.run(async move { Ok(c.call::<api::RecordPayment>(payee, req).await?) })
        .await
}

/// `POST /api/v1/payments` → `{"id"}`.
#[utoipa::path(post, path = "/api/v1/payments", tag = "payments", request_body = PaymentBody, responses((status = 201, body = super::Created), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn record(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<PaymentBody>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "record a payment")?;
    let r = record_payment(&p, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(Created { id: r.id }))
}

/// Confirms a payment received.
pub async fn confirm_payment(
    p: &Portal,
    caller: &Caller,
    id: String,
) -> Result<PaymentRecord, PortalError> {
    let c = p.client(caller)?;
    p.run(async move {
        let with = c
            .locate(Kind::Payment, &id)
            .await
            .map_err(PortalError::absent)?;
        Ok(c.call::<api::ConfirmPayment>(with, PaymentId { id })
            .await?)
    })
    .await
}

/// `POST /api/v1/payments/{id}/confirm`.
#[utoipa::path(post, path = "/api/v1/payments/{id}/confirm", tag = "payments", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 403, description = "the role may not, or a session call without its CSRF header", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody), (status = 422, description = "a rule refused it", body = crate::errors::ErrorBody)))]
pub async fn confirm(
    p: web::Data<Portal>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, PortalError> {
    caller.api_change(&req, Need::Settle, "confirm a payment")?;
    Ok(HttpResponse::Ok().json(confirm_payment(&p, &caller, id.into_inner()).await?))
}

/// `GET /api/v1/payments`.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", responses((status = 200, body = serde_json::Value), (status = 401, description = "no credentials", body = crate::errors::ErrorBody)))]
pub async fn list(p: web::Data<Portal>, caller: Caller) -> Result<HttpResponse, PortalError> {
    let c = p.client(&caller)?;
    let list = p.run(async move { Ok(c.payments(None).await?) }).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `?with=CARRIER`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct With {
    /// The partner.
    pub with: String,
}

/// The balances with one partner.
pub async fn balance(p: &Portal, caller: &Caller, with: &str) -> Result<Vec<Balance>, PortalError> {
    let c = p.client(caller)?;
    let with = partner(caller, &c.partners(), with)?;
    let me = c.me();
    p.run(async move {
        Ok(
            c.call::<api::GetBalance>(with, BalanceQuery { a: me, b: with })
                .await?,
        )
    })
    .await
}

/// `GET /api/v1/balances?with=CARRIER`.
#[utoipa::path(get, path = "/api/v1/balances", tag = "payments", params(With), responses((status = 200, body = serde_json::Value), (status = 400, description = "a malformed request", body = crate::errors::ErrorBody), (status = 401, description = "no credentials", body = crate::errors::ErrorBody), (status = 404, description = "not on the caller's channels", body = crate::errors::ErrorBody)))]
pub async fn balances(
    p: web::Data<Portal>,
    caller: Caller,
    q: web::Query<With>,
) -> Result<HttpResponse, PortalError> {
    Ok(HttpResponse::Ok().json(balance(&p, &caller, &q.with).await?))
}
