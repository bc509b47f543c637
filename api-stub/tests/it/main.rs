//! The API test suite: a real server on 127.0.0.1:0 over a real store, driven over HTTP.

mod auth;
mod bad_input;
mod contract;
mod durability;
mod edge;
mod helpers;
mod idempotency;
mod openapi;
mod rush;
mod scale_out;
mod sse;
