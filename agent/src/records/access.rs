//! Access events: a wrong token at the login form or in a bearer header, kept in the store
//! (`access_event`) as the audit trail of who tried what from where. The token tried is never
//! kept: it may be the right one mistyped.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AccessEvent {
    pub ts_ms: i64,
    /// The client's address, when known.
    pub peer: Option<String>,
    /// `login` (the form) or `bearer <path>`.
    pub via: String,
    /// The name given at the login form.
    pub name: Option<String>,
    /// Wrong tokens in a row from this address, this one included.
    pub count: u32,
    /// How long the address must now wait before its next attempt is even checked.
    pub locked_s: u64,
}
