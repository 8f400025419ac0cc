//! The HTML pages.

use actix_web::web;

/// Every page's route.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
