//! What leaders read: league tables ranked from the read model (`store::league`), trend charts
//! drawn as SVG on the server, and the credit-monitoring figure.

pub mod charts;
pub mod credit_metric;
pub mod league;
pub mod tally;
