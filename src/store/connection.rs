//! Transaction-generic helpers, written one way: a small trait per concern (`AuditConnection`,
//! `LeagueConnection`, `AssignmentConnection`, …) whose methods work on an open connection or
//! transaction (`&mut *tx`), implemented for both engines' connection types at once by
//! [`for_each_connection!`], so one body is type-checked against each driver. Where the engines
//! must differ (the audit chain's lock), the trait is implemented by hand for each type.

/// Expands `items` once per engine, with `Conn` naming that engine's connection type and
/// `ENGINE` its [`super::Engine`]: `for_each_connection! { impl XConnection for Conn { … } }`.
macro_rules! for_each_connection {
    ($($item:item)*) => {
        const _: () = {
            type Conn = ::sqlx::SqliteConnection;
            #[allow(dead_code)]
            const ENGINE: $crate::store::Engine = $crate::store::Engine::Sqlite;
            $($item)*
        };
        const _: () = {
            type Conn = ::sqlx::PgConnection;
            #[allow(dead_code)]
            const ENGINE: $crate::store::Engine = $crate::store::Engine::Postgres;
            $($item)*
        };
    };
}

pub(crate) use for_each_connection;
