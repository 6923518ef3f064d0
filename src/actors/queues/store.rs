//! `queues.db`: queues, topics, grants, subscriptions, live messages, dead
//! letters, and the users replica (email → id) that grants resolve against.
//!
//! Times are milliseconds; the handler passes the envelope's `created_at`
//! as "now", so a replay computes the same leases and expiries.
use std::collections::BTreeMap;

use diesel::{
    prelude::*,
    sql_types::{BigInt, Bool, Text},
};
use uuid::Uuid;

use crate::problem::Page;

diesel::table! {
    users (user_id) {
        user_id -> Text,
        email -> Text,
    }
}

diesel::table! {
    queues (name) {
        name -> Text,
        owner_id -> Text,
        visibility_timeout_s -> Integer,
        max_deliveries -> Integer,
        message_ttl_s -> Nullable<Integer>,
        created_at -> BigInt,
    }
}

diesel::table! {
    topics (name) {
        name -> Text,
        owner_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    grants (kind, name, user_id) {
        kind -> Text,
        name -> Text,
        user_id -> Text,
        publish -> Bool,
        consume -> Bool,
        updated_at -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Text,
        topic -> Text,
        queue -> Text,
        pattern -> Text,
        created_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    messages (seq) {
        seq -> BigInt,
        id -> Text,
        queue -> Text,
        body -> Text,
        headers -> Nullable<Text>,
        topic -> Nullable<Text>,
        routing_key -> Nullable<Text>,
        visible_at -> BigInt,
        receipt -> Nullable<Text>,
        delivery_count -> Integer,
        expires_at -> Nullable<BigInt>,
        published_at -> BigInt,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> Text,
        queue -> Text,
        body -> Text,
        headers -> Nullable<Text>,
        topic -> Nullable<Text>,
        routing_key -> Nullable<Text>,
        delivery_count -> Integer,
        reason -> Text,
        published_at -> BigInt,
        dead_at -> BigInt,
    }
}

diesel::table! {
    settled_receipts (receipt) {
        receipt -> Text,
        queue -> Text,
        message_id -> Text,
        status -> Text,
        settled_at -> BigInt,
    }
}

/// How long a settled receipt is remembered (a repeat within this answers
/// as the first settlement did).
pub const SETTLED_RECEIPT_TTL_MS: i64 = 24 * 3600 * 1000;

/// A receipt that settled its message: `status` is what it did (acked,
/// requeued, dead_lettered).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = settled_receipts)]
pub struct SettledRow {
    pub receipt: String,
    pub queue: String,
    pub message_id: String,
    pub status: String,
    pub settled_at: i64,
}

/// `grants.kind`: what a grant is on.
pub const QUEUE: &str = "queue";
pub const TOPIC: &str = "topic";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = queues)]
pub struct QueueRow {
    pub name: String,
    pub owner_id: String,
    pub visibility_timeout_s: i32,
    pub max_deliveries: i32,
    pub message_ttl_s: Option<i32>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = topics)]
pub struct TopicRow {
    pub name: String,
    pub owner_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, Default, Queryable)]
pub struct GrantRow {
    pub publish: bool,
    pub consume: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub topic: String,
    pub queue: String,
    pub pattern: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A live message.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub seq: i64,
    pub id: String,
    pub queue: String,
    pub body: String,
    pub headers: Option<String>,
    pub topic: Option<String>,
    pub routing_key: Option<String>,
    pub receipt: Option<String>,
    pub delivery_count: i32,
    pub expires_at: Option<i64>,
    pub published_at: i64,
}

/// A message about to be stored.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub id: String,
    pub queue: &'a str,
    pub body: &'a str,
    pub headers: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub routing_key: Option<&'a str>,
    pub visible_at: i64,
    pub delivery_count: i32,
    pub expires_at: Option<i64>,
    pub published_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = dead_letters)]
pub struct DeadRow {
    pub id: String,
    pub queue: String,
    pub body: String,
    pub headers: Option<String>,
    pub topic: Option<String>,
    pub routing_key: Option<String>,
    pub delivery_count: i32,
    pub reason: String,
    pub published_at: i64,
    pub dead_at: i64,
}

/// Headers as stored: JSON text, `NULL` when there are none.
pub fn encode_headers(h: &BTreeMap<String, String>) -> Option<String> {
    (!h.is_empty()).then(|| serde_json::to_string(h).expect("string maps serialize"))
}

pub fn decode_headers(h: Option<&str>) -> BTreeMap<String, String> {
    h.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// One queue's counters at an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Live messages not leased (ready now or delayed).
    pub depth: i64,
    /// Leased and neither acked nor past their lease.
    pub in_flight: i64,
    pub dead: i64,
}

#[derive(QueryableByName)]
struct Tally {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct QueueTally {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    leased: i64,
}

pub struct QueueStore<'a>(pub &'a mut SqliteConnection);

impl QueueStore<'_> {
    // ---- users replica ------------------------------------------------------

    /// Records a registered user; a stale row holding the same email (its
    /// deletion not seen yet) is replaced.
    pub fn put_user(&mut self, user_id: Uuid, email: &str) -> QueryResult<()> {
        diesel::replace_into(users::table)
            .values((
                users::user_id.eq(user_id.to_string()),
                users::email.eq(email),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Forgets a deleted user and every grant they held.
    pub fn delete_user(&mut self, user_id: Uuid) -> QueryResult<()> {
        let id = user_id.to_string();
        diesel::delete(grants::table.filter(grants::user_id.eq(&id))).execute(self.0)?;
        diesel::delete(users::table.find(&id)).execute(self.0)?;
        Ok(())
    }

    pub fn user_by_email(&mut self, email: &str) -> QueryResult<Option<String>> {
        users::table
            .filter(users::email.eq(email))
            .select(users::user_id)
            .first(self.0)
            .optional()
    }

    pub fn email_of(&mut self, user_id: &str) -> QueryResult<Option<String>> {
        users::table
            .find(user_id)
            .select(users::email)
            .first(self.0)
            .optional()
    }

    // ---- queues and topics --------------------------------------------------

    pub fn queue(&mut self, name: &str) -> QueryResult<Option<QueueRow>> {
        queues::table.find(name).first(self.0).optional()
    }

    pub fn create_queue(&mut self, q: &QueueRow) -> QueryResult<()> {
        diesel::insert_into(queues::table)
            .values(q)
            .execute(self.0)
            .map(|_| ())
    }

    /// Deletes the queue with its messages, dead letters, grants and the
    /// subscriptions that fed it.
    pub fn delete_queue(&mut self, name: &str) -> QueryResult<()> {
        diesel::delete(messages::table.filter(messages::queue.eq(name))).execute(self.0)?;
        diesel::delete(dead_letters::table.filter(dead_letters::queue.eq(name))).execute(self.0)?;
        diesel::delete(settled_receipts::table.filter(settled_receipts::queue.eq(name)))
            .execute(self.0)?;
        diesel::delete(
            grants::table
                .filter(grants::kind.eq(QUEUE))
                .filter(grants::name.eq(name)),
        )
        .execute(self.0)?;
        diesel::delete(subscriptions::table.filter(subscriptions::queue.eq(name)))
            .execute(self.0)?;
        diesel::delete(queues::table.find(name)).execute(self.0)?;
        Ok(())
    }

    /// Names of the queues or topics (`kind`) `user` owns or holds a
    /// grant on (all of them for `all`), one page by name, and the total.
    fn visible(
        &mut self,
        kind: &str,
        user: &str,
        all: bool,
        page: Page,
    ) -> QueryResult<(Vec<String>, i64)> {
        let table = if kind == QUEUE { "queues" } else { "topics" };
        let filter = "?3 OR owner_id = ?1 \
             OR name IN (SELECT name FROM grants WHERE kind = ?2 AND user_id = ?1)";
        let total: Vec<Tally> =
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"))
                .bind::<Text, _>(user)
                .bind::<Text, _>(kind)
                .bind::<Bool, _>(all)
                .load(self.0)?;
        let names: Vec<Named> = diesel::sql_query(format!(
            "SELECT name FROM {table} WHERE {filter} ORDER BY name LIMIT ?4 OFFSET ?5"
        ))
        .bind::<Text, _>(user)
        .bind::<Text, _>(kind)
        .bind::<Bool, _>(all)
        .bind::<BigInt, _>(page.limit())
        .bind::<BigInt, _>(page.offset())
        .load(self.0)?;
        Ok((
            names.into_iter().map(|n| n.name).collect(),
            total.first().map_or(0, |t| t.n),
        ))
    }

    /// Queues `user` owns or holds a grant on (every queue for `all`), by name.
    pub fn list_queues(
        &mut self,
        user: &str,
        all: bool,
        page: Page,
    ) -> QueryResult<(Vec<QueueRow>, i64)> {
        let (names, total) = self.visible(QUEUE, user, all, page)?;
        let rows = queues::table
            .filter(queues::name.eq_any(names))
            .order(queues::name)
            .load(self.0)?;
        Ok((rows, total))
    }

    pub fn topic(&mut self, name: &str) -> QueryResult<Option<TopicRow>> {
        topics::table.find(name).first(self.0).optional()
    }

    pub fn create_topic(&mut self, t: &TopicRow) -> QueryResult<()> {
        diesel::insert_into(topics::table)
            .values(t)
            .execute(self.0)
            .map(|_| ())
    }

    /// Deletes the topic with its grants and subscriptions (bound queues stay).
    pub fn delete_topic(&mut self, name: &str) -> QueryResult<()> {
        diesel::delete(
            grants::table
                .filter(grants::kind.eq(TOPIC))
                .filter(grants::name.eq(name)),
        )
        .execute(self.0)?;
        diesel::delete(subscriptions::table.filter(subscriptions::topic.eq(name)))
            .execute(self.0)?;
        diesel::delete(topics::table.find(name)).execute(self.0)?;
        Ok(())
    }

    /// Topics `user` owns or holds a grant on (every topic for `all`), by name.
    pub fn list_topics(
        &mut self,
        user: &str,
        all: bool,
        page: Page,
    ) -> QueryResult<(Vec<TopicRow>, i64)> {
        let (names, total) = self.visible(TOPIC, user, all, page)?;
        let rows = topics::table
            .filter(topics::name.eq_any(names))
            .order(topics::name)
            .load(self.0)?;
        Ok((rows, total))
    }

    // ---- grants --------------------------------------------------------------

    pub fn grant(&mut self, kind: &str, name: &str, user: &str) -> QueryResult<Option<GrantRow>> {
        grants::table
            .find((kind, name, user))
            .select((grants::publish, grants::consume))
            .first(self.0)
            .optional()
    }

    /// Replaces a user's grant; no permission at all deletes it.
    pub fn set_grant(
        &mut self,
        kind: &str,
        name: &str,
        user: &str,
        g: GrantRow,
        at: i64,
    ) -> QueryResult<()> {
        if !g.publish && !g.consume {
            diesel::delete(grants::table.find((kind, name, user))).execute(self.0)?;
            return Ok(());
        }
        diesel::replace_into(grants::table)
            .values((
                grants::kind.eq(kind),
                grants::name.eq(name),
                grants::user_id.eq(user),
                grants::publish.eq(g.publish),
                grants::consume.eq(g.consume),
                grants::updated_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    // ---- subscriptions -------------------------------------------------------

    pub fn subscriptions(&mut self, topic: &str) -> QueryResult<Vec<SubscriptionRow>> {
        subscriptions::table
            .filter(subscriptions::topic.eq(topic))
            .order((subscriptions::created_at, subscriptions::id))
            .load(self.0)
    }

    pub fn subscription(&mut self, id: &str) -> QueryResult<Option<SubscriptionRow>> {
        subscriptions::table.find(id).first(self.0).optional()
    }

    pub fn find_subscription(
        &mut self,
        topic: &str,
        queue: &str,
        pattern: &str,
    ) -> QueryResult<Option<SubscriptionRow>> {
        subscriptions::table
            .filter(subscriptions::topic.eq(topic))
            .filter(subscriptions::queue.eq(queue))
            .filter(subscriptions::pattern.eq(pattern))
            .first(self.0)
            .optional()
    }

    pub fn add_subscription(&mut self, s: &SubscriptionRow) -> QueryResult<()> {
        diesel::insert_into(subscriptions::table)
            .values(s)
            .execute(self.0)
            .map(|_| ())
    }

    pub fn delete_subscription(&mut self, id: &str) -> QueryResult<()> {
        diesel::delete(subscriptions::table.find(id))
            .execute(self.0)
            .map(|_| ())
    }

    // ---- messages ------------------------------------------------------------

    pub fn insert_message(&mut self, m: &NewMessage<'_>) -> QueryResult<()> {
        diesel::insert_into(messages::table)
            .values(m)
            .execute(self.0)
            .map(|_| ())
    }

    /// The next messages a receive may take: visible at `now`, in
    /// (visible_at, seq) order.
    pub fn receivable(
        &mut self,
        queue: &str,
        now: i64,
        limit: i64,
    ) -> QueryResult<Vec<MessageRow>> {
        messages::table
            .filter(messages::queue.eq(queue))
            .filter(messages::visible_at.le(now))
            .order((messages::visible_at, messages::seq))
            .limit(limit)
            .select(MessageRow::as_select())
            .load(self.0)
    }

    /// When the queue's next message becomes receivable (maybe already).
    pub fn next_visible(&mut self, queue: &str) -> QueryResult<Option<i64>> {
        messages::table
            .filter(messages::queue.eq(queue))
            .order((messages::visible_at, messages::seq))
            .select(messages::visible_at)
            .first(self.0)
            .optional()
    }

    pub fn lease(
        &mut self,
        seq: i64,
        receipt: &str,
        until: i64,
        delivery_count: i32,
    ) -> QueryResult<()> {
        diesel::update(messages::table.find(seq))
            .set((
                messages::receipt.eq(receipt),
                messages::visible_at.eq(until),
                messages::delivery_count.eq(delivery_count),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Makes a leased message waiting again from `at` (its delivery count stays).
    pub fn release(&mut self, seq: i64, at: i64) -> QueryResult<()> {
        diesel::update(messages::table.find(seq))
            .set((
                messages::receipt.eq(None::<String>),
                messages::visible_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    pub fn message(&mut self, id: &str) -> QueryResult<Option<MessageRow>> {
        messages::table
            .filter(messages::id.eq(id))
            .select(MessageRow::as_select())
            .first(self.0)
            .optional()
    }

    pub fn delete_message(&mut self, seq: i64) -> QueryResult<()> {
        diesel::delete(messages::table.find(seq))
            .execute(self.0)
            .map(|_| ())
    }

    /// Moves a live message to the dead letters.
    pub fn kill(&mut self, m: &MessageRow, reason: &str, at: i64) -> QueryResult<()> {
        diesel::insert_into(dead_letters::table)
            .values(DeadRow {
                id: m.id.clone(),
                queue: m.queue.clone(),
                body: m.body.clone(),
                headers: m.headers.clone(),
                topic: m.topic.clone(),
                routing_key: m.routing_key.clone(),
                delivery_count: m.delivery_count,
                reason: reason.to_owned(),
                published_at: m.published_at,
                dead_at: at,
            })
            .execute(self.0)?;
        self.delete_message(m.seq)
    }

    // ---- settled receipts ---------------------------------------------------

    /// What `receipt` settled, if it settled anything (and is remembered).
    pub fn settled(&mut self, receipt: &str) -> QueryResult<Option<SettledRow>> {
        settled_receipts::table
            .find(receipt)
            .select(SettledRow::as_select())
            .first(self.0)
            .optional()
    }

    /// Remembers that `row.receipt` settled its message, and forgets
    /// settlements older than [`SETTLED_RECEIPT_TTL_MS`].
    pub fn remember_settled(&mut self, row: &SettledRow) -> QueryResult<()> {
        diesel::delete(
            settled_receipts::table
                .filter(settled_receipts::settled_at.lt(row.settled_at - SETTLED_RECEIPT_TTL_MS)),
        )
        .execute(self.0)?;
        diesel::insert_or_ignore_into(settled_receipts::table)
            .values(row)
            .execute(self.0)
            .map(|_| ())
    }

    pub fn dead_letter(&mut self, id: &str) -> QueryResult<Option<DeadRow>> {
        dead_letters::table.find(id).first(self.0).optional()
    }

    /// Puts a dead letter back at the tail of its queue, as a fresh message
    /// (delivery count 0, a new TTL) that keeps its id.
    pub fn redrive(&mut self, d: &DeadRow, now: i64, expires_at: Option<i64>) -> QueryResult<()> {
        diesel::delete(dead_letters::table.find(&d.id)).execute(self.0)?;
        self.insert_message(&NewMessage {
            id: d.id.clone(),
            queue: &d.queue,
            body: &d.body,
            headers: d.headers.as_deref(),
            topic: d.topic.as_deref(),
            routing_key: d.routing_key.as_deref(),
            visible_at: now,
            delivery_count: 0,
            expires_at,
            published_at: now,
        })
    }

    /// A queue's dead letters, oldest first.
    pub fn dead_letters(&mut self, queue: &str, page: Page) -> QueryResult<(Vec<DeadRow>, i64)> {
        let total = dead_letters::table
            .filter(dead_letters::queue.eq(queue))
            .count()
            .get_result(self.0)?;
        let rows = dead_letters::table
            .filter(dead_letters::queue.eq(queue))
            .order((dead_letters::dead_at, dead_letters::id))
            .offset(page.offset())
            .limit(page.limit())
            .load(self.0)?;
        Ok((rows, total))
    }

    pub fn counts(&mut self, queue: &str, now: i64) -> QueryResult<Counts> {
        let total: i64 = messages::table
            .filter(messages::queue.eq(queue))
            .count()
            .get_result(self.0)?;
        let in_flight: i64 = messages::table
            .filter(messages::queue.eq(queue))
            .filter(messages::visible_at.gt(now))
            .filter(messages::receipt.is_not_null())
            .count()
            .get_result(self.0)?;
        let dead: i64 = dead_letters::table
            .filter(dead_letters::queue.eq(queue))
            .count()
            .get_result(self.0)?;
        Ok(Counts {
            depth: total - in_flight,
            in_flight,
            dead,
        })
    }

    /// Every queue's counts (for `/metrics`), by name.
    pub fn all_counts(&mut self, now: i64) -> QueryResult<Vec<(String, Counts)>> {
        let names: Vec<String> = queues::table
            .select(queues::name)
            .order(queues::name)
            .load(self.0)?;
        let live: Vec<QueueTally> = diesel::sql_query(
            "SELECT queue, COUNT(*) AS total, \
             COALESCE(SUM(receipt IS NOT NULL AND visible_at > ?), 0) AS leased \
             FROM messages GROUP BY queue",
        )
        .bind::<BigInt, _>(now)
        .load(self.0)?;
        let dead: Vec<(String, i64)> = dead_letters::table
            .group_by(dead_letters::queue)
            .select((dead_letters::queue, diesel::dsl::count_star()))
            .load(self.0)?;
        Ok(names
            .into_iter()
            .map(|name| {
                let (total, in_flight) = live
                    .iter()
                    .find(|t| t.queue == name)
                    .map(|t| (t.total, t.leased))
                    .unwrap_or_default();
                let dead = dead
                    .iter()
                    .find(|(q, _)| *q == name)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                (
                    name,
                    Counts {
                        depth: total - in_flight,
                        in_flight,
                        dead,
                    },
                )
            })
            .collect())
    }
}
