//! `GET /openapi.json`: the OpenAPI 3.1 description of every route and schema.
//!
//! Generated from the handlers' `#[utoipa::path]` attributes and the wire
//! types' `ToSchema` derives; a test checks every route it lists answers.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;
use crate::state::AppState;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Gym capacity & booking API", description = "The contract of shared/API.md, plus the documented extensions."),
    paths(
        routes::health::health_show,
        routes::auth::auth_login,
        routes::gyms::gyms_list,
        routes::gyms::slots_list,
        routes::gyms::capacity_show,
        routes::gyms::slots_create,
        routes::stream::capacity_stream,
        routes::slots::slots_show,
        routes::slots::slots_update,
        routes::bookings::bookings_create,
        routes::bookings::bookings_show,
        routes::bookings::bookings_cancel,
        routes::bookings::bookings_list_mine,
        openapi_json,
    ),
    components(schemas(gym_core::ErrorCode, gym_core::wire::ErrorDetail, gym_core::wire::BookingStatus, gym_core::wire::Role)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3.1 JSON")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
