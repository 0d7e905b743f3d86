//! The reply-webhooks pipeline (SPEC §1) as plain code over ports.
pub mod auth;
pub mod config;
