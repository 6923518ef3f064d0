//! `users.db`.
use diesel::prelude::*;
use uuid::Uuid;

use super::{Account, Credentials, Register, UserView};
use crate::{
    auth::Role,
    problem::{now_ms, rfc3339},
    store::schema::users,
};

#[derive(Queryable)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: String,
    role: String,
    created_at: i64,
    #[allow(dead_code)]
    updated_at: i64,
    token_version: i64,
}

impl UserRow {
    fn view(&self) -> UserView {
        UserView {
            id: Uuid::parse_str(&self.id).unwrap_or_default(),
            email: self.email.clone(),
            name: self.name.clone(),
            role: if self.role == "admin" {
                Role::Admin
            } else {
                Role::Customer
            },
            created_at: rfc3339(self.created_at),
        }
    }
}

pub struct UserStore<'a>(pub &'a mut SqliteConnection);

impl UserStore<'_> {
    fn row(&mut self, id: Uuid) -> QueryResult<Option<UserRow>> {
        users::table.find(id.to_string()).first(self.0).optional()
    }

    pub fn get(&mut self, id: Uuid) -> QueryResult<Option<UserView>> {
        Ok(self.row(id)?.map(|r| r.view()))
    }

    pub fn find_by_email(&mut self, email: &str) -> QueryResult<Option<UserView>> {
        Ok(users::table
            .filter(users::email.eq(email))
            .first::<UserRow>(self.0)
            .optional()?
            .map(|r| r.view()))
    }

    pub fn credentials(&mut self, email: &str) -> QueryResult<Option<Credentials>> {
        Ok(users::table
            .filter(users::email.eq(email))
            .first::<UserRow>(self.0)
            .optional()?
            .map(|r| Credentials {
                account: Account {
                    user: r.view(),
                    token_version: r.token_version,
                },
                password_hash: r.password_hash,
            }))
    }

    /// The account's token version, `None` when there is no such account.
    pub fn token_version(&mut self, id: Uuid) -> QueryResult<Option<i64>> {
        users::table
            .find(id.to_string())
            .select(users::token_version)
            .first(self.0)
            .optional()
    }

    /// Admin accounts.
    pub fn count_admins(&mut self) -> QueryResult<i64> {
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .count()
            .get_result(self.0)
    }

    pub fn insert(&mut self, id: Uuid, cmd: &Register, at: i64) -> QueryResult<UserView> {
        diesel::insert_into(users::table)
            .values((
                users::id.eq(id.to_string()),
                users::email.eq(&cmd.email),
                users::name.eq(&cmd.name),
                users::password_hash.eq(&cmd.password_hash),
                users::role.eq(cmd.role.as_str()),
                users::created_at.eq(at),
                users::updated_at.eq(at),
            ))
            .execute(self.0)?;
        Ok(self.get(id)?.expect("just inserted"))
    }

    pub fn update(
        &mut self,
        id: Uuid,
        name: Option<&str>,
        password_hash: Option<&str>,
    ) -> QueryResult<Option<UserView>> {
        if self.row(id)?.is_none() {
            return Ok(None);
        }
        let target = || users::table.find(id.to_string());
        if let Some(n) = name {
            diesel::update(target())
                .set((users::name.eq(n), users::updated_at.eq(now_ms())))
                .execute(self.0)?;
        }
        if let Some(h) = password_hash {
            // A new password revokes every token issued before it.
            diesel::update(target())
                .set((
                    users::password_hash.eq(h),
                    users::token_version.eq(users::token_version + 1),
                    users::updated_at.eq(now_ms()),
                ))
                .execute(self.0)?;
        }
        self.get(id)
    }

    pub fn delete(&mut self, id: Uuid) -> QueryResult<Option<UserView>> {
        let Some(user) = self.get(id)? else {
            return Ok(None);
        };
        diesel::delete(users::table.find(id.to_string())).execute(self.0)?;
        Ok(Some(user))
    }
}
