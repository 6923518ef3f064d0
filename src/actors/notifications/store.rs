//! `notifications.db`.
use diesel::prelude::*;
use uuid::Uuid;

use super::NotificationView;
use crate::{
    problem::{rfc3339, Page, Paged},
    store::schema::notifications,
};

#[derive(Queryable)]
struct Row {
    id: String,
    #[allow(dead_code)]
    user_id: String,
    kind: String,
    subject: String,
    body: String,
    read: bool,
    created_at: i64,
}

impl Row {
    fn view(self) -> NotificationView {
        NotificationView {
            id: Uuid::parse_str(&self.id).unwrap_or_default(),
            kind: self.kind,
            subject: self.subject,
            body: self.body,
            read: self.read,
            created_at: rfc3339(self.created_at),
        }
    }
}

pub struct NotificationStore<'a>(pub &'a mut SqliteConnection);

impl NotificationStore<'_> {
    pub fn insert(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        kind: &str,
        subject: &str,
        body: &str,
        at: i64,
    ) -> QueryResult<()> {
        diesel::insert_into(notifications::table)
            .values((
                notifications::id.eq(id.to_string()),
                notifications::user_id.eq(user_id.to_string()),
                notifications::kind.eq(kind),
                notifications::subject.eq(subject),
                notifications::body.eq(body),
                notifications::read.eq(false),
                notifications::created_at.eq(at),
            ))
            .execute(self.0)
            .map(|_| ())
    }

    /// Newest first.
    pub fn list(&mut self, user_id: Uuid, page: Page) -> QueryResult<Paged<NotificationView>> {
        let mine = notifications::user_id.eq(user_id.to_string());
        let total: i64 = notifications::table
            .filter(mine.clone())
            .count()
            .get_result(self.0)?;
        let rows: Vec<Row> = notifications::table
            .filter(mine)
            .order((notifications::created_at.desc(), notifications::id.desc()))
            .offset(page.offset())
            .limit(page.limit())
            .load(self.0)?;
        Ok(Paged {
            items: rows.into_iter().map(Row::view).collect(),
            page: page.page,
            page_size: page.page_size,
            total: total as u64,
        })
    }

    /// Marks the user's own notification read; `None` if it is not theirs.
    pub fn mark_read(&mut self, user_id: Uuid, id: Uuid) -> QueryResult<Option<NotificationView>> {
        let target = notifications::table
            .filter(notifications::id.eq(id.to_string()))
            .filter(notifications::user_id.eq(user_id.to_string()));
        diesel::update(target.clone())
            .set(notifications::read.eq(true))
            .execute(self.0)?;
        Ok(target.first::<Row>(self.0).optional()?.map(Row::view))
    }
}
