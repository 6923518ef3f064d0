//! Diesel table definitions for every database. Each table lives in exactly
//! one database file; the comment says which.

// mom.db
diesel::table! {
    envelopes (seq) {
        seq -> BigInt,
        id -> Text,
        destination -> Text,
        kind -> Text,
        payload -> Text,
        correlation_id -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        owner -> Nullable<Text>,
        attempts -> Integer,
        status -> Text,
        result -> Nullable<Text>,
        last_error -> Nullable<Text>,
        checksum -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

// every service database
diesel::table! {
    inbox (envelope_id) {
        envelope_id -> Text,
        outcome -> Text,
        processed_at -> BigInt,
    }
}

// users.db
diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        token_version -> BigInt,
    }
}

// wallets.db
diesel::table! {
    accounts (user_id) {
        user_id -> Text,
        email -> Nullable<Text>,
        balance_cents -> BigInt,
        closed -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    transfers (id) {
        id -> Text,
        from_user_id -> Text,
        to_user_id -> Text,
        amount_cents -> BigInt,
        note -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    deposits (id) {
        id -> Text,
        user_id -> Text,
        amount_cents -> BigInt,
        created_at -> BigInt,
    }
}

// notifications.db
diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        subject -> Text,
        body -> Text,
        read -> Bool,
        created_at -> BigInt,
    }
}
