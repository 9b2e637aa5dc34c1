//! Where a registration stands on its way to the province: the registration's own standing
//! (`registrations.sync_state`) and the outbox events that carry it (`outbox.kind`, `.state`).
//!
//! Each state has a stable lowercase code stored in the database; [`SyncState::as_str`] and the
//! like give it, `parse_code` reads it back and knows no other spelling, so a typo in a stored
//! value is an error and never a decision.

/// The registration's standing at the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyncState {
    /// Not (yet) accepted: queued, being sent, or dead-lettered for an admin.
    Pending,
    /// The province has it.
    Accepted,
    /// The province refused it for a reason the owner must fix.
    Rejected,
}

impl SyncState {
    pub const ALL: [SyncState; 3] = [SyncState::Pending, SyncState::Accepted, SyncState::Rejected];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Accepted => "accepted",
            SyncState::Rejected => "rejected",
        }
    }

    /// Inverse of [`SyncState::as_str`]; exact match only.
    #[must_use]
    pub fn parse_code(code: &str) -> Option<SyncState> {
        SyncState::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

/// What an outbox event asks of the province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboxKind {
    /// Register the entity (the registration itself).
    Register,
    /// Change the contact details of an entity the province already has.
    UpdateContact,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 2] = [OutboxKind::Register, OutboxKind::UpdateContact];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Register => "register",
            OutboxKind::UpdateContact => "update_contact",
        }
    }

    /// Inverse of [`OutboxKind::as_str`]; exact match only.
    #[must_use]
    pub fn parse_code(code: &str) -> Option<OutboxKind> {
        OutboxKind::ALL.into_iter().find(|k| k.as_str() == code)
    }
}

/// Where an outbox event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboxState {
    /// Waiting to be sent, or to be retried.
    Pending,
    /// Delivered (or nothing left to deliver).
    Done,
    /// Given up after too many attempts: an admin decides.
    Dead,
    /// An admin discarded it.
    Discarded,
}

impl OutboxState {
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Dead,
        OutboxState::Done,
        OutboxState::Discarded,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Dead => "dead",
            OutboxState::Discarded => "discarded",
        }
    }

    /// Inverse of [`OutboxState::as_str`]; exact match only.
    #[must_use]
    pub fn parse_code(code: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|s| s.as_str() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_exactly() {
        for s in SyncState::ALL {
            assert_eq!(SyncState::parse_code(s.as_str()), Some(s));
        }
        for k in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse_code(k.as_str()), Some(k));
        }
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse_code(s.as_str()), Some(s));
        }
        assert_eq!(SyncState::parse_code("Accepted"), None);
        assert_eq!(OutboxState::parse_code("dead "), None);
        assert_eq!(OutboxKind::parse_code(""), None);
    }
}
