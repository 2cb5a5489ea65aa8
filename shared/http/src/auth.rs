//! Who is calling. Access tokens are HS256 JWTs issued by the auth function; API Gateway's
//! Lambda authorizer verifies them (or an API key) and hands the caller to the functions as its
//! context, which [`AuthContext::from_authorizer_context`] reads back. The same types serve both
//! ends, so the authorizer and the functions cannot disagree on the shape.

use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use helpdesk_domain::{ApiKeyId, OrgId, Permission, PermissionSet, Principal, Role, RoleName, SessionId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub const ISSUER: &str = "helpdesk";
/// Access tokens are for the API; other token kinds get other audiences so that one can never
/// be used as another.
pub const AUDIENCE: &str = "helpdesk-api";

/// An access token's claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrgId,
    pub role: String,
    /// The role's permissions when the token was issued (custom roles included), by name.
    pub perms: Vec<String>,
    /// The session (refresh-token family) the token belongs to: logout ends it.
    pub sid: SessionId,
    /// The user's authorisation version: a role change or deactivation bumps it.
    pub ver: i64,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Who is calling: every query is scoped to `org`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub org: OrgId,
    pub principal: Principal,
    pub role: RoleName,
    pub permissions: PermissionSet,
    /// Set for a signed-in user; API keys have none.
    pub session: Option<SessionId>,
    pub authz_version: i64,
    /// When the credential stops working (Unix seconds): the access token's `exp`, an API key's
    /// expiry. Checked again by the functions, as API Gateway's cache may outlive it.
    pub expires_at: Option<i64>,
}

/// The role name an API key's context carries: keys have permissions, not roles.
pub const API_KEY_ROLE: &str = "api_key";

impl AuthContext {
    /// A signed-in user with a built-in role (tests and tools).
    pub fn user(org: OrgId, user: UserId, role: Role, session: SessionId, authz_version: i64) -> Self {
        Self {
            org,
            principal: Principal::User(user),
            role: role.into(),
            permissions: role.permissions(),
            session: Some(session),
            authz_version,
            expires_at: None,
        }
    }

    pub fn api_key(org: OrgId, key: ApiKeyId, permissions: PermissionSet, expires_at: Option<i64>) -> Self {
        Self {
            org,
            principal: Principal::ApiKey(key),
            role: RoleName::Custom(API_KEY_ROLE.into()),
            permissions,
            session: None,
            authz_version: 0,
            expires_at,
        }
    }

    /// Whether the credential has expired by `now` (Unix seconds).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The calling user, or 403 for an API key (routes about "me" need a person).
    pub fn user_id(&self) -> Result<UserId, ApiError> {
        self.principal
            .user()
            .ok_or_else(|| ApiError::Forbidden("this route needs a signed-in user, not an API key".into()))
    }

    /// The route's permission, or 403 naming it.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the {} permission", permission.as_str())))
        }
    }

    /// What the authorizer returns to API Gateway as `context` (string values only: API
    /// Gateway passes them through as they are).
    pub fn to_authorizer_context(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("org_id".into(), self.org.to_string().into());
        match self.principal {
            Principal::User(id) => {
                map.insert("principal_type".into(), "user".into());
                map.insert("user_id".into(), id.to_string().into());
            }
            Principal::ApiKey(id) => {
                map.insert("principal_type".into(), "api_key".into());
                map.insert("key_id".into(), id.to_string().into());
            }
        }
        map.insert("role".into(), self.role.as_str().into());
        map.insert("permissions".into(), self.permissions.names().join(" ").into());
        if let Some(sid) = self.session {
            map.insert("session_id".into(), sid.to_string().into());
        }
        map.insert("authz_version".into(), self.authz_version.to_string().into());
        if let Some(at) = self.expires_at {
            map.insert("expires_at".into(), at.to_string().into());
        }
        map
    }

    /// Reads the caller back from the authorizer's context (`requestContext.authorizer.lambda`).
    pub fn from_authorizer_context(map: &HashMap<String, Value>) -> Option<Self> {
        let text = |k: &str| map.get(k).and_then(Value::as_str);
        let org = text("org_id")?.parse().ok()?;
        let principal = match text("principal_type")? {
            "user" => Principal::User(text("user_id")?.parse().ok()?),
            "api_key" => Principal::ApiKey(text("key_id")?.parse().ok()?),
            _ => return None,
        };
        let session = match text("session_id") {
            Some(s) => Some(s.parse().ok()?),
            None => None,
        };
        if matches!(principal, Principal::User(_)) && session.is_none() {
            return None;
        }
        Some(Self {
            org,
            principal,
            role: RoleName::parse(text("role")?).ok()?,
            permissions: PermissionSet::from_known_names(text("permissions")?.split_whitespace()),
            session,
            authz_version: text("authz_version").and_then(|v| v.parse().ok()).unwrap_or(0),
            expires_at: match text("expires_at") {
                Some(at) => Some(at.parse().ok()?),
                None => None,
            },
        })
    }
}

/// Signing and verification keys, made once per container.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Arc<Validation>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    pub fn hs256(secret: &[u8]) -> Self {
        // Only HS256 is accepted: a token claiming `none` or an RSA algorithm is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: Arc::new(validation),
        }
    }

    /// An access token for a signed-in user, valid for `ttl_secs`.
    pub fn issue(&self, caller: &AuthContext, ttl_secs: i64) -> Result<String, ApiError> {
        let (Principal::User(user), Some(sid)) = (caller.principal, caller.session) else {
            return Err(ApiError::bug("access tokens are for signed-in users"));
        };
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user,
            org: caller.org,
            role: caller.role.as_str().to_string(),
            perms: caller.permissions.names().into_iter().map(str::to_string).collect(),
            sid,
            ver: caller.authz_version,
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
        })
    }

    /// Signs any claims (tests forge tokens with it).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Checks the signature, algorithm, issuer, audience and times, and reads the caller.
    pub fn verify(&self, token: &str) -> Result<AuthContext, ApiError> {
        let c = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("invalid bearer token: {e}")))?
            .claims;
        let role = RoleName::parse(&c.role).map_err(|_| ApiError::Unauthorized("invalid bearer token: role".into()))?;
        Ok(AuthContext {
            org: c.org,
            principal: Principal::User(c.sub),
            role,
            permissions: PermissionSet::from_known_names(&c.perms),
            session: Some(c.sid),
            authz_version: c.ver,
            expires_at: Some(c.exp),
        })
    }
}

/// The caller, as the gateway middleware left it after checking the authorizer's context
/// against the live session state. A route reached without it (a function invoked other than
/// through API Gateway's authorizer) is refused.
impl<S: Send + Sync> FromRequestParts<S> for AuthContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("this route needs a bearer token or API key".into()))?;
        tracing::Span::current().record("org", tracing::field::display(auth.org));
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn agent() -> AuthContext {
        AuthContext::user(OrgId::new(), UserId::new(), Role::Agent, SessionId::new(), 3)
    }

    #[test]
    fn round_trips_a_token() {
        let keys = JwtKeys::hs256(SECRET);
        let caller = agent();
        let token = keys.issue(&caller, 60).unwrap();
        let verified = keys.verify(&token).unwrap();
        assert!(verified.expires_at.is_some_and(|at| at > chrono::Utc::now().timestamp()));
        assert_eq!(AuthContext { expires_at: None, ..verified }, caller);
    }

    #[test]
    fn round_trips_the_authorizer_context() {
        let caller = AuthContext { expires_at: Some(1_900_000_000), ..agent() };
        let read =
            |c: &AuthContext| AuthContext::from_authorizer_context(&c.to_authorizer_context().into_iter().collect());
        assert_eq!(read(&caller), Some(caller.clone()));
        let key = AuthContext::api_key(OrgId::new(), ApiKeyId::new(), Role::Viewer.permissions(), None);
        assert_eq!(read(&key), Some(key.clone()));
        // The functions refuse what has expired, whatever API Gateway's cache still holds.
        assert!(caller.expired(1_900_000_000) && !caller.expired(1_899_999_999));
        assert!(!key.expired(i64::MAX), "a key without an expiry does not expire");
        let mut no_session: HashMap<String, Value> = agent().to_authorizer_context().into_iter().collect();
        no_session.remove("session_id");
        assert_eq!(AuthContext::from_authorizer_context(&no_session), None, "a user always has a session");
    }

    fn claims(keys_org: OrgId) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: UserId::new(),
            org: keys_org,
            role: "admin".into(),
            perms: vec!["messages:read".into()],
            sid: SessionId::new(),
            ver: 1,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + 60,
        }
    }

    #[test]
    fn refuses_tokens_for_another_issuer_audience_or_time() {
        let keys = JwtKeys::hs256(SECRET);
        let ok = claims(OrgId::new());
        assert!(keys.verify(&keys.sign(&ok).unwrap()).is_ok());
        let now = chrono::Utc::now().timestamp();
        for (what, bad) in [
            ("issuer", Claims { iss: "someone-else".into(), ..ok.clone() }),
            ("audience", Claims { aud: "helpdesk-refresh".into(), ..ok.clone() }),
            ("not yet valid", Claims { nbf: now + 3600, ..ok.clone() }),
            ("expired", Claims { exp: now - 3600, ..ok.clone() }),
        ] {
            assert!(keys.verify(&keys.sign(&bad).unwrap()).is_err(), "{what} accepted");
        }
    }

    #[test]
    fn refuses_other_algorithms_whatever_the_signature() {
        // HS/RS confusion: a token claiming RS256 (or ES256, or HS512) is refused before its
        // signature is looked at, so a public key can never serve as an HMAC secret.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let keys = JwtKeys::hs256(SECRET);
        let good = keys.sign(&claims(OrgId::new())).unwrap();
        let (_, rest) = good.split_once('.').unwrap();
        for alg in ["RS256", "ES256", "HS512", "PS256", "none"] {
            let header = b64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            assert!(keys.verify(&format!("{header}.{rest}")).is_err(), "{alg} accepted");
        }
    }

    #[test]
    fn refuses_forged_expired_and_unsigned_tokens() {
        let keys = JwtKeys::hs256(SECRET);
        let other = JwtKeys::hs256(b"another-secret-another-secret-xx");
        let forged = other.issue(&agent(), 60).unwrap();
        assert!(keys.verify(&forged).is_err());

        let expired = keys.issue(&agent(), -120).unwrap();
        assert!(keys.verify(&expired).is_err());

        // alg: none with the same claims.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = expired.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys.verify(&unsigned).is_err());
    }
}
