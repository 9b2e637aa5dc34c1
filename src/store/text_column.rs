//! Domain enums stored as their text codes: `sqlx` reads and binds them directly on both
//! engines, and a stored value that is not a known code fails the read instead of being guessed.

/// Implements `sqlx::Type`, `Encode` and `Decode` for enums with `as_str` / `parse_code`.
macro_rules! text_column {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let code = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                <$ty>::parse_code(&code).ok_or_else(|| {
                    format!("unknown {} code {code:?}", stringify!($ty)).into()
                })
            }
        }
    )+};
}

use crate::domain::delivery::{OutboxKind, OutboxState, SyncState};

text_column!(SyncState, OutboxKind, OutboxState);
