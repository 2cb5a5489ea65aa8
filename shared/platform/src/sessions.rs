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

// KEYS[1] session, KEYS[2] the user's set of sessions; ARGV: organisation, presented hash, next
// hash, the user's authorisation version now (-1: the user is gone or deactivated), session id.
// Returns 1 rotated, 2 ended (the secret was current but the user may no longer sign in), -1
// reused (the secret before the current one: the family is revoked), 0 unknown (no such
// session, another organisation's, or a secret it never had — which changes nothing, so a guess
// cannot end someone's session). Nothing is changed before the secret has been matched.
// The version only moves up: a role change that lands during a refresh is not undone.
const ROTATE: &str = r#"
local state = redis.call('HMGET', KEYS[1], 'org', 'refresh', 'previous', 'ver')
if not state[1] or state[1] ~= ARGV[1] then return 0 end
if state[2] == ARGV[2] then
  if tonumber(ARGV[4]) < 0 then
    redis.call('DEL', KEYS[1])
    redis.call('SREM', KEYS[2], ARGV[5])
    return 2
  end
  local ver = math.max(tonumber(state[4]) or 0, tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'refresh', ARGV[3], 'previous', ARGV[2], 'ver', ver)
  return 1
end
if state[3] and state[3] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[5])
  return -1
end
return 0
"#;

// KEYS[1] the user's set of sessions; ARGV: session key prefix, version. Sessions that have
// expired are dropped from the set.
const SET_VERSION: &str = r#"
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. sid
  if redis.call('EXISTS', key) == 1 then
    local ver = tonumber(redis.call('HGET', key, 'ver')) or 0
    redis.call('HSET', key, 'ver', math.max(ver, tonumber(ARGV[2])))
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

// KEYS[1] attempts, KEYS[2] lock; ARGV: threshold, first lock, max lock, memory. Counts the
// attempt before the password is checked, so parallel guesses cannot all slip in before the
// first failure is counted. Returns {locked seconds left, 0} when locked, else {0, the lock this
// attempt sets if it fails (0: none)}.
const ATTEMPT: &str = r#"
local left = redis.call('TTL', KEYS[2])
if left > 0 then return {left, 0} end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local threshold = tonumber(ARGV[1])
if n < threshold then return {0, 0} end
local secs = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (n - threshold))
redis.call('SET', KEYS[2], '1', 'EX', secs)
return {0, secs}
"#;

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The secret was current: it is replaced by the next one.
    Rotated,
    /// The secret was current, but its user is gone or deactivated: the session is ended.
    Ended,
    /// The secret was the one before: someone else may hold it, and the whole family is revoked.
    Reused,
    /// No such session (logged out, revoked, expired, another organisation's) or a secret it
    /// never had.
    Unknown,
}

/// What a sign-in attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The account is locked for this many more seconds: the password is not even checked.
    Locked(u64),
    /// Go on; if the password is wrong, the account is now locked for this long.
    Allowed { lock_if_wrong: Option<u64> },
}

#[derive(Clone)]
pub struct Sessions {
    redis: RedisHandle,
    prefix: String,
    rotate: Arc<redis::Script>,
    set_version: Arc<redis::Script>,
    revoke_all: Arc<redis::Script>,
    attempt: Arc<redis::Script>,
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
            attempt: Arc::new(redis::Script::new(ATTEMPT)),
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

    /// Presents a refresh secret of `org`'s session; on success the session's secret becomes
    /// `next_hash` and its version at least `version` (the user's, read just before; `None`
    /// when the user is gone or deactivated, which ends the session instead). Nothing changes
    /// unless the presented secret is the session's current or previous one.
    pub async fn rotate(
        &self,
        org: OrgId,
        user: UserId,
        sid: SessionId,
        presented: &[u8],
        next_hash: &[u8],
        version: Option<i64>,
    ) -> Result<Rotation> {
        let mut conn = self.redis.connection().await?;
        let code: i64 = self
            .rotate
            .key(self.session_key(user, sid))
            .key(self.user_sessions_key(user))
            .arg(org.to_string())
            .arg(presented)
            .arg(next_hash)
            .arg(version.map_or(-1, |v| v.max(0)))
            .arg(sid.to_string())
            .invoke_async(&mut conn)
            .await?;
        Ok(match code {
            1 => Rotation::Rotated,
            2 => Rotation::Ended,
            -1 => Rotation::Reused,
            _ => Rotation::Unknown,
        })
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

    /// Counts a sign-in attempt on an account, before its password is checked, or says how
    /// long it is locked. An account is named by what was typed (organisation and email)
    /// whether or not it exists, so a lock says nothing about existence.
    pub async fn begin_attempt(&self, account: &str) -> Result<Attempt> {
        let mut conn = self.redis.connection().await?;
        let (attempts, lock) = self.login_keys(account);
        let (left, sets): (i64, i64) = self
            .attempt
            .key(attempts)
            .key(lock)
            .arg(LOCK_AFTER_FAILURES)
            .arg(FIRST_LOCK_SECS)
            .arg(MAX_LOCK_SECS)
            .arg(FAILURE_MEMORY_SECS)
            .invoke_async(&mut conn)
            .await?;
        Ok(if left > 0 {
            Attempt::Locked(left as u64)
        } else {
            Attempt::Allowed { lock_if_wrong: (sets > 0).then_some(sets as u64) }
        })
    }

    /// A successful sign-in forgets the attempts (and a lock the attempt itself set).
    pub async fn clear_failures(&self, account: &str) -> Result<()> {
        let mut conn = self.redis.connection().await?;
        let (attempts, lock) = self.login_keys(account);
        conn.del::<_, ()>(&[attempts, lock]).await
    }
}
