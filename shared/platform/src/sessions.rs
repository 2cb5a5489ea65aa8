//! Session and revocation state in Redis (ElastiCache), with TTLs. A session is one refresh-token
//! family: login starts it, each refresh rotates its secret, logout or a reused secret ends it.
//! Every API call checks that the caller's session still exists with the authorisation version
//! its token carries, so logout, deactivation and role changes act on the next call, whatever
//! the access token's expiry or the authorizer's cache say.
//!
//! A user's keys share the hash tag `{u:<user>}`, so the scripts that touch several of them stay
//! in one slot of a clustered cache.

use crate::RedisHandle;
use helpdesk_domain::{ApiKeyId, OrgId, Principal, SessionId, UserId};
use helpdesk_http::AuthContext;
use redis::AsyncCommands;
use std::sync::Arc;

/// How long a session lasts without a new login.
pub const SESSION_TTL_SECS: u64 = 30 * 24 * 3600;
/// How long a revoked API key is remembered in Redis: longer than any authorizer cache.
const KEY_REVOCATION_TTL_SECS: u64 = 24 * 3600;
/// Failed sign-ins on one account before it is locked, and the first lock's length (doubling
/// with each further failure, up to the maximum).
pub const LOCK_AFTER_FAILURES: i64 = 5;
pub const FIRST_LOCK_SECS: i64 = 30;
pub const MAX_LOCK_SECS: i64 = 3600;
/// Failures are forgotten a day after the last one.
const FAILURE_MEMORY_SECS: i64 = 24 * 3600;

// KEYS[1] session; ARGV: presented hash, next hash. Returns {1, org} rotated, {-1, org} reused
// (the family is revoked), {0} unknown.
const ROTATE: &str = r#"
local current = redis.call('HGET', KEYS[1], 'refresh')
if not current then return {0} end
local org = redis.call('HGET', KEYS[1], 'org')
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'refresh', ARGV[2])
  return {1, org}
end
redis.call('DEL', KEYS[1])
return {-1, org}
"#;

// KEYS[1] the user's set of sessions; ARGV: session key prefix, version. Sessions that have
// expired are dropped from the set.
const SET_VERSION: &str = r#"
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. sid
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'ver', ARGV[2])
  else
    redis.call('SREM', KEYS[1], sid)
  end
end
return 1
"#;

// KEYS[1] the user's set; ARGV: session key prefix. Deletes every session of the user.
const REVOKE_ALL: &str = r#"
local n = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('DEL', ARGV[1] .. sid)
end
redis.call('DEL', KEYS[1])
return n
"#;

// KEYS[1] failures, KEYS[2] lock; ARGV: threshold, first lock, max lock, memory. Returns the
// lock's length in seconds, or 0.
const FAIL: &str = r#"
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local threshold = tonumber(ARGV[1])
if n < threshold then return 0 end
local secs = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (n - threshold))
redis.call('SET', KEYS[2], '1', 'EX', secs)
return secs
"#;

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The secret was current: it is replaced by the next one.
    Rotated { org: OrgId },
    /// The secret was already used: the whole family is revoked.
    Reused { org: OrgId },
    /// No such session (logged out, revoked, expired).
    Unknown,
}

#[derive(Clone)]
pub struct Sessions {
    redis: RedisHandle,
    prefix: String,
    rotate: Arc<redis::Script>,
    set_version: Arc<redis::Script>,
    revoke_all: Arc<redis::Script>,
    fail: Arc<redis::Script>,
}

type Result<T> = std::result::Result<T, redis::RedisError>;

impl Sessions {
    /// `prefix` namespaces the keys (the stack's name: stacks may share a Redis).
    pub fn new(redis: RedisHandle, prefix: impl Into<String>) -> Self {
        Self {
            redis,
            prefix: prefix.into(),
            rotate: Arc::new(redis::Script::new(ROTATE)),
            set_version: Arc::new(redis::Script::new(SET_VERSION)),
            revoke_all: Arc::new(redis::Script::new(REVOKE_ALL)),
            fail: Arc::new(redis::Script::new(FAIL)),
        }
    }

    fn session_prefix(&self, user: UserId) -> String {
        format!("{}:{{u:{user}}}:session:", self.prefix)
    }

    fn session_key(&self, user: UserId, sid: SessionId) -> String {
        format!("{}{sid}", self.session_prefix(user))
    }

    fn user_sessions_key(&self, user: UserId) -> String {
        format!("{}:{{u:{user}}}:sessions", self.prefix)
    }

    fn revoked_key(&self, key: ApiKeyId) -> String {
        format!("{}:revoked-key:{key}", self.prefix)
    }

    /// Starts a session whose first refresh secret hashes to `refresh_hash`.
    pub async fn create(
        &self,
        org: OrgId,
        user: UserId,
        sid: SessionId,
        version: i64,
        refresh_hash: &[u8],
    ) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        let (key, set) = (self.session_key(user, sid), self.user_sessions_key(user));
        redis::pipe()
            .atomic()
            .hset_multiple(&key, &[("org", org.to_string()), ("ver", version.to_string())])
            .hset(&key, "refresh", refresh_hash)
            .expire(&key, SESSION_TTL_SECS as i64)
            .sadd(&set, sid.to_string())
            .expire(&set, SESSION_TTL_SECS as i64)
            .query_async::<()>(&mut conn)
            .await
    }

    /// Presents a refresh secret; on success the session's secret becomes `next_hash`.
    pub async fn rotate(&self, user: UserId, sid: SessionId, presented: &[u8], next_hash: &[u8]) -> Result<Rotation> {
        let mut conn = self.redis.connection().await?;
        let answer: Vec<redis::Value> =
            self.rotate.key(self.session_key(user, sid)).arg(presented).arg(next_hash).invoke_async(&mut conn).await?;
        let code = answer.first().and_then(|v| redis::from_redis_value::<i64>(v).ok()).unwrap_or(0);
        let org = answer.get(1).and_then(|v| redis::from_redis_value::<String>(v).ok()).and_then(|s| s.parse().ok());
        Ok(match (code, org) {
            (1, Some(org)) => Rotation::Rotated { org },
            (-1, Some(org)) => Rotation::Reused { org },
            _ => Rotation::Unknown,
        })
    }

    /// Records the user's current authorisation version on one session (after a refresh).
    pub async fn set_session_version(&self, user: UserId, sid: SessionId, version: i64) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        conn.hset::<_, _, _, ()>(self.session_key(user, sid), "ver", version).await
    }

    /// Records a new authorisation version on every session of the user: tokens issued before
    /// stop working, and the next refresh issues one with the new role.
    pub async fn set_user_version(&self, user: UserId, version: i64) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        self.set_version
            .key(self.user_sessions_key(user))
            .arg(self.session_prefix(user))
            .arg(version)
            .invoke_async::<()>(&mut conn)
            .await
    }

    /// Ends one session (logout).
    pub async fn revoke(&self, user: UserId, sid: SessionId) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        redis::pipe()
            .del(self.session_key(user, sid))
            .srem(self.user_sessions_key(user), sid.to_string())
            .query_async::<()>(&mut conn)
            .await
    }

    /// Ends every session of the user (deactivation); returns how many there were.
    pub async fn revoke_user(&self, user: UserId) -> Result<u64> {
        let mut conn = self.redis.connection().await?;
        self.revoke_all.key(self.user_sessions_key(user)).arg(self.session_prefix(user)).invoke_async(&mut conn).await
    }

    /// Remembers that an API key was revoked, for the calls the authorizer's cache still lets
    /// through.
    pub async fn revoke_key(&self, key: ApiKeyId) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        conn.set_ex::<_, _, ()>(self.revoked_key(key), 1, KEY_REVOCATION_TTL_SECS).await
    }

    /// Whether the caller's credential still stands: the session exists with the version the
    /// token carries, or the API key was not revoked.
    pub async fn is_live(&self, caller: &AuthContext) -> Result<bool> {
        let mut conn = self.redis.connection().await?;
        match (caller.principal, caller.session) {
            (Principal::User(user), Some(sid)) => {
                let version: Option<i64> = conn.hget(self.session_key(user, sid), "ver").await?;
                Ok(version == Some(caller.authz_version))
            }
            (Principal::ApiKey(key), _) => Ok(!conn.exists::<_, bool>(self.revoked_key(key)).await?),
            (Principal::User(_), None) => Ok(false),
        }
    }

    fn login_keys(&self, account: &str) -> (String, String) {
        let tag = format!("{}:{{login:{account}}}", self.prefix);
        (format!("{tag}:failures"), format!("{tag}:lock"))
    }

    /// Seconds left on a lock of this account, if it is locked. An account is named by what
    /// was typed (organisation and email) whether or not it exists, so a lock says nothing about
    /// existence.
    pub async fn locked_for(&self, account: &str) -> Result<Option<u64>> {
        let mut conn = self.redis.connection().await?;
        let ttl: i64 = conn.ttl(self.login_keys(account).1).await?;
        Ok((ttl > 0).then_some(ttl as u64))
    }

    /// Counts a failed sign-in; returns the lock it caused, in seconds.
    pub async fn record_failure(&self, account: &str) -> Result<Option<u64>> {
        let mut conn = self.redis.connection().await?;
        let (failures, lock) = self.login_keys(account);
        let secs: i64 = self
            .fail
            .key(failures)
            .key(lock)
            .arg(LOCK_AFTER_FAILURES)
            .arg(FIRST_LOCK_SECS)
            .arg(MAX_LOCK_SECS)
            .arg(FAILURE_MEMORY_SECS)
            .invoke_async(&mut conn)
            .await?;
        Ok((secs > 0).then_some(secs as u64))
    }

    /// A successful sign-in forgets the failures.
    pub async fn clear_failures(&self, account: &str) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        let (failures, _) = self.login_keys(account);
        conn.del::<_, ()>(failures).await
    }
}
