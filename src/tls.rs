//! TLS for the process: reqwest (the provincial and other HTTP adapters) and lettre (SMTP) are
//! built without a crypto provider of their own, so one is installed here, once.

/// Makes ring the process-wide rustls provider. Call once at start-up, before any TLS; later
/// calls (and a provider installed by someone else first) are fine.
pub fn install_crypto_provider() {
    // `Err` only means a provider is already in place, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
