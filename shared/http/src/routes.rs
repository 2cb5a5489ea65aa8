//! The API's routes by path template, so that a known path asked with the wrong method is
//! answered `405 Method Not Allowed` with the methods it does allow (RFC 9110 §15.5.6), by
//! whichever function API Gateway hands the request to.

use std::sync::Arc;

/// Path templates (`/v1/users/{id}/role`) and their methods, upper-case.
#[derive(Debug, Clone, Default)]
pub struct RouteTable(Arc<Vec<(String, Vec<String>)>>);

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl RouteTable {
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>)>) -> Self {
        Self(Arc::new(routes.into_iter().collect()))
    }

    /// Every path and method of an OpenAPI document (as JSON: `paths.<template>.<method>`).
    pub fn from_openapi(document: &serde_json::Value) -> Self {
        let paths = document["paths"].as_object().into_iter().flatten();
        Self::new(paths.map(|(path, item)| {
            let methods = item.as_object().into_iter().flatten().map(|(m, _)| m.as_str());
            let methods = methods.filter(|m| METHODS.contains(m)).map(str::to_ascii_uppercase).collect();
            (path.clone(), methods)
        }))
    }

    /// The methods a concrete path allows, as an `Allow` value (`GET, PUT`); `None` when no
    /// template matches. A `{param}` segment matches any one non-empty segment.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut methods: Vec<&str> = Vec::new();
        for (template, allowed) in self.0.iter() {
            let parts: Vec<&str> = template.split('/').collect();
            let fits = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
            if fits {
                methods.extend(allowed.iter().map(String::as_str));
            }
        }
        if methods.is_empty() {
            return None;
        }
        methods.sort_unstable();
        methods.dedup();
        Some(methods.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_lists_its_methods() {
        let table = RouteTable::from_openapi(&serde_json::json!({"paths": {
            "/v1/api-keys": {"get": {}, "post": {}, "parameters": []},
            "/v1/api-keys/{id}": {"delete": {}},
            "/v1/users/{id}/role": {"put": {}},
        }}));
        assert_eq!(table.allowed("/v1/api-keys").as_deref(), Some("GET, POST"));
        assert_eq!(table.allowed("/v1/api-keys/abc").as_deref(), Some("DELETE"));
        assert_eq!(table.allowed("/v1/users/abc/role").as_deref(), Some("PUT"));
        assert_eq!(table.allowed("/v1/users//role"), None);
        assert_eq!(table.allowed("/v1/api-keys/"), None, "a trailing slash is another path");
        assert_eq!(table.allowed("/v1/nothing"), None);
    }
}
