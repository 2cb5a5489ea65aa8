//! Bearer-token authentication: HS256 JWTs with `sub`, `org` and `role`. Identity (issue 3)
//! replaces the issuer; every route keeps asking for an [`AuthContext`].

use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use helpdesk_domain::{OrgId, Permission, PermissionSet, Role, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ISSUER: &str = "helpdesk";
/// Access tokens are for the API; other token kinds (refresh, invitations) get other audiences
/// so that one can never be used as another.
pub const AUDIENCE: &str = "helpdesk-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: UserId,
    pub org: OrgId,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Who is calling: every query is scoped to `org`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthContext {
    pub org: OrgId,
    pub user: UserId,
    pub role: Role,
    pub permissions: PermissionSet,
}

impl AuthContext {
    pub fn new(org: OrgId, user: UserId, role: Role) -> Self {
        Self { org, user, role, permissions: role.permissions() }
    }

    /// The route's permission, or 403 naming it.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the {} permission", permission.as_str())))
        }
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

    /// A token for the given user, valid for `ttl_secs`.
    pub fn issue(&self, org: OrgId, user: UserId, role: Role, ttl_secs: i64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: user,
            org,
            role,
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

    pub fn verify(&self, token: &str) -> Result<AuthContext, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("invalid bearer token: {e}")))?;
        Ok(AuthContext::new(data.claims.org, data.claims.sub, data.claims.role))
    }

    /// Reads `Authorization: Bearer …` from request headers.
    pub fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<AuthContext, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization header".into()))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("expected 'Authorization: Bearer <token>'".into()))?;
        self.verify(token.trim())
    }
}

/// Extracts the caller from the request, given state that holds the keys.
impl<S> FromRequestParts<S> for AuthContext
where
    S: Send + Sync + AsRef<JwtKeys>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A middleware that already verified the token (the rate limiter) leaves the caller here.
        let auth = match parts.extensions.get::<AuthContext>() {
            Some(auth) => *auth,
            None => state.as_ref().authenticate(&parts.headers)?,
        };
        tracing::Span::current().record("org", tracing::field::display(auth.org));
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trips_a_token() {
        let keys = JwtKeys::hs256(SECRET);
        let (org, user) = (OrgId::new(), UserId::new());
        let token = keys.issue(org, user, Role::Agent, 60).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), AuthContext::new(org, user, Role::Agent));
    }

    fn claims(keys_org: OrgId) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: UserId::new(),
            org: keys_org,
            role: Role::Admin,
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
        let forged = other.issue(OrgId::new(), UserId::new(), Role::Admin, 60).unwrap();
        assert!(keys.verify(&forged).is_err());

        let expired = keys.issue(OrgId::new(), UserId::new(), Role::Admin, -120).unwrap();
        assert!(keys.verify(&expired).is_err());

        // alg: none with the same claims.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = expired.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys.verify(&unsigned).is_err());
    }
}
