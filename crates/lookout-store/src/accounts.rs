//! Dashboard accounts: users, sign-in sessions, API tokens and failed sign-ins.
//!
//! Secrets never reach the store in the clear: callers pass password hashes (argon2id)
//! and SHA-256 hashes of session ids and API tokens, and look them up by hash.

use crate::model::{ApiToken, NewApiToken, NewSession, Session, User};
use crate::sql::{params, sql, Row};
use crate::{Db, Result, StoreError};

/// Users, sessions, API tokens and sign-in failures.
pub trait AccountStore: Send + Sync + 'static {
    /// Creates a user; `Conflict` when the email is taken.
    fn create_user(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<User>;
    /// One user by email (as given, compared exactly: callers lower-case it).
    fn get_user_by_email(&self, email: &str) -> Result<Option<User>>;
    /// All users, by id.
    fn list_users(&self) -> Result<Vec<User>>;
    /// How many users exist (none: the first one is made with the setup token).
    fn count_users(&self) -> Result<i64>;
    /// Replaces a user's password hash and signs out all of their sessions; `false` if
    /// no such user.
    fn set_password(&self, email: &str, password_hash: &str) -> Result<bool>;
    /// Deletes a user with their sessions and API tokens; `false` if no such user.
    fn delete_user(&self, email: &str) -> Result<bool>;
    /// Records a successful sign-in time.
    fn touch_login(&self, user_id: i64, now_ms: i64) -> Result<()>;

    /// Stores a session.
    fn create_session(&self, session: &NewSession) -> Result<()>;
    /// The unexpired session with this id hash and its user.
    fn get_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<(Session, User)>>;
    /// Ends a session (sign-out) and removes expired ones.
    fn delete_session(&self, id_hash: &str, now_ms: i64) -> Result<()>;

    /// Stores an API token (its hash); `Conflict` on a hash in use.
    fn create_api_token(&self, token: &NewApiToken) -> Result<ApiToken>;
    /// Every token of a user, revoked ones included, newest first.
    fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>>;
    /// The unrevoked token with this hash, its last use set to `now_ms`.
    fn use_api_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<ApiToken>>;
    /// Revokes a user's token; `false` if the user has no such unrevoked token.
    fn revoke_api_token(&self, user_id: i64, id: i64, now_ms: i64) -> Result<bool>;

    /// Records a failed sign-in under `key` (an account or an address) and forgets
    /// failures older than `forget_before_ms`.
    fn record_login_failure(&self, key: &str, now_ms: i64, forget_before_ms: i64) -> Result<()>;
    /// Failed sign-ins under `key` since `since_ms`.
    fn count_login_failures(&self, key: &str, since_ms: i64) -> Result<i64>;
}

macro_rules! user_cols {
    () => {
        "id, email, password_hash, created_ms, last_login_ms"
    };
}

macro_rules! token_cols {
    () => {
        "id, user_id, name, prefix, scopes, created_ms, last_used_ms, revoked_ms, projects"
    };
}

fn user_at(row: &dyn Row, at: usize) -> Result<User> {
    Ok(User {
        id: row.get(at)?,
        email: row.get(at + 1)?,
        password_hash: row.get(at + 2)?,
        created_ms: row.get(at + 3)?,
        last_login_ms: row.get(at + 4)?,
    })
}

fn user_from_row(row: &dyn Row) -> Result<User> {
    user_at(row, 0)
}

fn token_from_row(row: &dyn Row) -> Result<ApiToken> {
    let scopes: String = row.get(4)?;
    Ok(ApiToken {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        created_ms: row.get(5)?,
        last_used_ms: row.get(6)?,
        revoked_ms: row.get(7)?,
        projects: row
            .get::<Option<String>>(8)?
            .map(|p| {
                p.split_whitespace()
                    .map(|id| {
                        id.parse().map_err(|_| {
                            StoreError::Corrupt(format!("api_tokens.projects holds {p:?}"))
                        })
                    })
                    .collect::<Result<Vec<i64>>>()
            })
            .transpose()?,
    })
}

impl<D: Db> AccountStore for D {
    fn create_user(&self, email: &str, password_hash: &str, now_ms: i64) -> Result<User> {
        self.write(|c| {
            c.row(
                sql!(concat!(
                    "INSERT INTO users (email, password_hash, created_ms)
                     VALUES (?1, ?2, ?3) RETURNING ",
                    user_cols!()
                )),
                params![email, password_hash, now_ms],
                user_from_row,
            )
            .map_err(StoreError::into_conflict)?
            .ok_or_else(|| StoreError::Corrupt(format!("user {email:?} not returned")))
        })
    }

    fn get_user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    user_cols!(),
                    " FROM users WHERE email = ?1"
                )),
                params![email],
                user_from_row,
            )
        })
    }

    fn list_users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            c.rows(
                sql!(concat!("SELECT ", user_cols!(), " FROM users ORDER BY id")),
                &[],
                user_from_row,
            )
        })
    }

    fn count_users(&self) -> Result<i64> {
        self.read(|c| c.value(sql!("SELECT COUNT(*) FROM users"), &[]))
    }

    fn set_password(&self, email: &str, password_hash: &str) -> Result<bool> {
        self.transaction(|c| {
            let Some(id) = c.row(
                sql!("UPDATE users SET password_hash = ?2 WHERE email = ?1 RETURNING id"),
                params![email, password_hash],
                |r| r.get::<i64>(0),
            )?
            else {
                return Ok(false);
            };
            c.exec(sql!("DELETE FROM sessions WHERE user_id = ?1"), params![id])?;
            Ok(true)
        })
    }

    fn delete_user(&self, email: &str) -> Result<bool> {
        self.transaction(|c| {
            let Some(id) = c.row(
                sql!("DELETE FROM users WHERE email = ?1 RETURNING id"),
                params![email],
                |r| r.get::<i64>(0),
            )?
            else {
                return Ok(false);
            };
            c.exec(sql!("DELETE FROM sessions WHERE user_id = ?1"), params![id])?;
            c.exec(
                sql!("DELETE FROM api_tokens WHERE user_id = ?1"),
                params![id],
            )?;
            Ok(true)
        })
    }

    fn touch_login(&self, user_id: i64, now_ms: i64) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!("UPDATE users SET last_login_ms = ?2 WHERE id = ?1"),
                params![user_id, now_ms],
            )
            .map(drop)
        })
    }

    fn create_session(&self, s: &NewSession) -> Result<()> {
        self.transaction(|c| {
            c.exec(
                sql!("DELETE FROM sessions WHERE expires_ms <= ?1"),
                params![s.created_ms],
            )?;
            c.exec(
                sql!(
                    "INSERT INTO sessions (id_hash, user_id, csrf, created_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![s.id_hash, s.user_id, s.csrf, s.created_ms, s.expires_ms],
            )
            .map_err(StoreError::into_conflict)
            .map(drop)
        })
    }

    fn get_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<(Session, User)>> {
        self.read(|c| {
            c.row(
                sql!(
                    "SELECT s.user_id, s.csrf, s.created_ms, s.expires_ms,
                     u.id, u.email, u.password_hash, u.created_ms, u.last_login_ms
                     FROM sessions s JOIN users u ON u.id = s.user_id
                      WHERE s.id_hash = ?1 AND s.expires_ms > ?2"
                ),
                params![id_hash, now_ms],
                |r| {
                    Ok((
                        Session {
                            user_id: r.get(0)?,
                            csrf: r.get(1)?,
                            created_ms: r.get(2)?,
                            expires_ms: r.get(3)?,
                        },
                        user_at(r, 4)?,
                    ))
                },
            )
        })
    }

    fn delete_session(&self, id_hash: &str, now_ms: i64) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!("DELETE FROM sessions WHERE id_hash = ?1 OR expires_ms <= ?2"),
                params![id_hash, now_ms],
            )
            .map(drop)
        })
    }

    fn create_api_token(&self, t: &NewApiToken) -> Result<ApiToken> {
        let scopes = t.scopes.join(" ");
        let projects = t
            .projects
            .as_ref()
            .map(|ps| ps.iter().map(i64::to_string).collect::<Vec<_>>().join(" "));
        self.write(|c| {
            c.row(
                sql!(concat!(
                    "INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, created_ms,
                     projects) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING ",
                    token_cols!()
                )),
                params![
                    t.user_id,
                    t.name,
                    t.token_hash,
                    t.prefix,
                    scopes,
                    t.created_ms,
                    projects
                ],
                token_from_row,
            )
            .map_err(StoreError::into_conflict)?
            .ok_or_else(|| StoreError::Corrupt(format!("API token {:?} not returned", t.name)))
        })
    }

    fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    token_cols!(),
                    " FROM api_tokens WHERE user_id = ?1 ORDER BY id DESC"
                )),
                params![user_id],
                token_from_row,
            )
        })
    }

    fn use_api_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<ApiToken>> {
        self.write(|c| {
            c.row(
                sql!(concat!(
                    "UPDATE api_tokens SET last_used_ms = ?2
                     WHERE token_hash = ?1 AND revoked_ms IS NULL RETURNING ",
                    token_cols!()
                )),
                params![token_hash, now_ms],
                token_from_row,
            )
        })
    }

    fn revoke_api_token(&self, user_id: i64, id: i64, now_ms: i64) -> Result<bool> {
        let n = self.write(|c| {
            c.exec(
                sql!(
                    "UPDATE api_tokens SET revoked_ms = ?3
                     WHERE id = ?1 AND user_id = ?2 AND revoked_ms IS NULL"
                ),
                params![id, user_id, now_ms],
            )
        })?;
        Ok(n > 0)
    }

    fn record_login_failure(&self, key: &str, now_ms: i64, forget_before_ms: i64) -> Result<()> {
        self.transaction(|c| {
            c.exec(
                sql!("DELETE FROM login_failures WHERE at_ms < ?1"),
                params![forget_before_ms],
            )?;
            c.exec(
                sql!("INSERT INTO login_failures (key, at_ms) VALUES (?1, ?2)"),
                params![key, now_ms],
            )
            .map(drop)
        })
    }

    fn count_login_failures(&self, key: &str, since_ms: i64) -> Result<i64> {
        self.read(|c| {
            c.value(
                sql!("SELECT COUNT(*) FROM login_failures WHERE key = ?1 AND at_ms >= ?2"),
                params![key, since_ms],
            )
        })
    }
}
