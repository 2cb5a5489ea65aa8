//! The one guard for connections to destinations an organisation chose: its LLM provider's base
//! URL now, webhooks and mailboxes next. In AWS the functions run next to the database, Redis and
//! the instance metadata service, so a tenant's URL must never lead there, however it is spelt
//! and whatever its name resolves to later.
//!
//! - [`parse_url`]: a URL as it is saved — parsed by a URL parser (WHATWG, the `url` crate),
//!   normalised, and checked: http(s) with a host, no credentials, no query or fragment, no
//!   spaces or control characters; under [`Destinations::PublicOnly`] also HTTPS, and no address
//!   or local name inside a private network.
//! - [`client`]: the HTTP client for such URLs. It follows no redirects (a provider's `307` to
//!   `http://10.0.0.1/` would get round every check), and under `PublicOnly` resolves names to
//!   public addresses only (before any connection) and checks the address it actually connected
//!   to before the request is sent (for HTTPS, after the TLS handshake) — which covers IP
//!   literals in any spelling and DNS answers that change between save and use.
//! - [`resolve`]: the same check for protocols that open their own TCP connections (IMAP, SMTP).
//!
//! What counts as public is [`is_public`], after IANA's IPv4 and IPv6 Special-Purpose Address
//! Registries (RFC 6890 and its updates).

use hyper_util::client::legacy::connect::Connection;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

pub use reqwest::Url;

/// Which destinations a connection may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    /// Public addresses only, over HTTPS: what an organisation may configure in AWS.
    PublicOnly,
    /// Any address, plain HTTP too: local development and tests (a model server on this machine),
    /// and destinations the operator set (the platform's own default provider).
    Any,
}

/// The variable that lets organisations' destinations be private or plain HTTP when `true`: the
/// local runner sets it (a model server on this machine, the tests' stand-ins); unset in AWS.
pub const ALLOW_PRIVATE_VAR: &str = "LLM_ALLOW_PRIVATE_BASE_URLS";

impl Destinations {
    /// `Any` when private destinations are allowed ([`ALLOW_PRIVATE_VAR`] is `true`), else
    /// `PublicOnly`.
    pub fn allowing_private(allowed: bool) -> Self {
        if allowed {
            Self::Any
        } else {
            Self::PublicOnly
        }
    }
}

/// Why a URL or a connection was refused. The texts are written for the person who typed the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("must not contain spaces, backslashes or control characters")]
    Characters,
    #[error("an http(s) URL with a host after '//'")]
    Shape,
    #[error("no credentials in the URL: the key has its own field")]
    Credentials,
    #[error("port 0 is not a port")]
    Port,
    #[error("the host must be a DNS name (labels of letters, digits and inner dashes, no trailing dot)")]
    HostName,
    #[error("a base URL has no query or fragment")]
    QueryOrFragment,
    #[error("HTTPS only")]
    NotHttps,
    #[error("not an address or a name inside a private network")]
    Private,
    /// At connect time: the name resolved to no public address.
    #[error("{0} resolves to no public address")]
    ResolvedPrivate(String),
    /// At connect time: the connection reached an address that is not public.
    #[error("connected to an address that is not public ({0})")]
    ConnectedPrivate(IpAddr),
    /// At connect time: the connection's peer address could not be read.
    #[error("connected to an address that could not be told")]
    PeerUnknown,
}

/// Parses, normalises and checks a URL an organisation gives (a provider's base URL, a webhook's
/// endpoint). Returns the normalised URL to store: lower-case scheme and host, IDNA host, IP
/// addresses in their canonical spelling (`http://0x7f.1/` is `http://127.0.0.1/`), default port
/// dropped, path percent-encoded.
///
/// Refused, whatever the policy: anything but `http`/`https`; a missing host (`http:///v1`, which
/// a lenient parser reads as host `v1`); spaces, backslashes or control characters (CR/LF);
/// credentials; a query or fragment. Under [`Destinations::PublicOnly`] also plain HTTP, an IP
/// address that [`is_public`] refuses, and names that only make sense inside a network
/// (single-label names, `localhost`, `.local`, `.internal`, `.home.arpa`, `.localdomain`). Where such a name
/// resolves later is checked again at connect time by [`client`].
pub fn parse_url(raw: &str, destinations: Destinations) -> Result<Url, Refused> {
    // Invisible characters too: IDNA would silently drop a zero-width space from a host.
    let bad = |c: char| c.is_whitespace() || c == '\\' || helpdesk_domain::text::is_hidden_in_address(c);
    if raw.chars().any(bad) {
        return Err(Refused::Characters);
    }
    // The WHATWG parser repairs `http:/x`, `http:x` and `http:///x` into host `x`; a URL typed
    // that way is a mistake, not a host.
    let (scheme, rest) = raw.split_once("://").ok_or(Refused::Shape)?;
    if rest.is_empty() || rest.starts_with('/') || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(Refused::Shape);
    }
    let url = Url::parse(raw).map_err(|e| Refused::NotAUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Refused::Shape);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Refused::QueryOrFragment);
    }
    if url.port() == Some(0) {
        return Err(Refused::Port);
    }
    if let Some(url::Host::Domain(name)) = url.host() {
        // A host name as DNS takes it (RFC 1123): labels of 1 to 63 letters, digits and inner
        // dashes, no trailing dot.
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(label_ok) {
            return Err(Refused::HostName);
        }
    }
    if destinations == Destinations::Any {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(Refused::NotHttps);
    }
    let public = match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => !is_local_name(name),
        None => false,
    };
    if !public {
        return Err(Refused::Private);
    }
    Ok(url)
}

/// Names that resolve only inside a network: single labels (search domains), `localhost`
/// (RFC 6761), `.local` (mDNS, RFC 6762), `.home.arpa` (RFC 8375), `.internal` (reserved for
/// private use by ICANN, and what cloud metadata services are called).
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || ["localhost", "local", "internal", "home.arpa", "localdomain"]
            .iter()
            .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

/// Whether an address is reachable on the public internet: not in any block of IANA's
/// Special-Purpose Address Registries that is not globally reachable (private, shared, loopback,
/// link-local, documentation, benchmarking, multicast, reserved). An IPv6 address that carries
/// an IPv4 one (`::ffff:10.0.0.1`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) is judged by the IPv4
/// address it leads to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", 0.0.0.0/8
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT), 100.64.0.0/10
        || a == 127
        || (a == 169 && b == 254) // link-local, where the instance metadata service answers
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF protocol assignments, TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // Only global unicast (2000::/3) is public; loopback, unspecified, unique local (fc00::/7),
    // link-local, multicast and IPv4-compatible addresses lie outside it.
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    // 2001::/23: IETF protocol assignments (Teredo included); 2001:db8::/32 and 3fff::/20:
    // documentation.
    let special = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || (s[0] == 0x3fff && s[1] < 0x1000);
    global_unicast && !special
}

/// The IPv4 address an IPv6 one leads to: IPv4-mapped (`::ffff:a.b.c.d`), NAT64's well-known
/// prefix (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002:AABB:CCDD::/48`, RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// Resolves `host` for a connection this process opens itself (IMAP, SMTP): under
/// [`Destinations::PublicOnly`] only the public addresses are returned, and a name with none is
/// refused (`PermissionDenied`, the [`Refused`] inside). IP literals are checked the same way.
pub async fn resolve(host: &str, port: u16, destinations: Destinations) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    permitted(host, addrs, destinations)
}

fn permitted(host: &str, addrs: Vec<SocketAddr>, destinations: Destinations) -> io::Result<Vec<SocketAddr>> {
    if destinations == Destinations::Any {
        return Ok(addrs);
    }
    let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
    if public.is_empty() {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, Refused::ResolvedPrivate(host.to_string())));
    }
    Ok(public)
}

/// The HTTP client for destinations of this kind. It never follows a redirect: a `3xx` is
/// handed back as it is, for the caller to treat as a failure. Under
/// [`Destinations::PublicOnly`] it uses no proxy (the address connected to must be the
/// destination's), resolves names to public addresses only, and refuses a connection whose peer
/// is not public before the request is written to it (defence in depth behind the resolver and
/// [`parse_url`]; for HTTPS the TLS handshake has happened by then).
pub fn client(destinations: Destinations) -> reqwest::Client {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let builder = match destinations {
        Destinations::Any => builder,
        Destinations::PublicOnly => builder.no_proxy().dns_resolver(PublicNames).connector_layer(PeerCheckLayer),
    };
    // The same failure `reqwest::Client::new` panics on: no TLS backend.
    builder.build().expect("the HTTP client's TLS backend initialises")
}

/// Resolves names to their public addresses only.
struct PublicNames;

impl reqwest::dns::Resolve for PublicNames {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve(&host, 0, Destinations::PublicOnly).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector layer that reads the peer address off each new connection and drops the
/// connection unless it is public. It sees IP literals, which never pass through the resolver.
#[derive(Clone)]
struct PeerCheckLayer;

impl<S> tower_layer::Layer<S> for PeerCheckLayer {
    type Service = PeerCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PeerCheck(inner)
    }
}

#[derive(Clone)]
struct PeerCheck<S>(S);

impl<S, R> tower_service::Service<R> for PeerCheck<S>
where
    S: tower_service::Service<R>,
    S::Response: Connection + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: R) -> Self::Future {
        let connecting = self.0.call(destination);
        Box::pin(async move {
            let connection = connecting.await.map_err(Into::into)?;
            let mut extras = http::Extensions::new();
            connection.connected().get_extras(&mut extras);
            let peer = extras.get::<hyper_util::client::legacy::connect::HttpInfo>().map(|i| i.remote_addr().ip());
            match peer {
                Some(ip) if is_public(ip) => Ok(connection),
                Some(ip) => Err(Box::new(Refused::ConnectedPrivate(ip)) as BoxError),
                // A connection whose peer cannot be told is not one to trust.
                None => Err(Box::new(Refused::PeerUnknown) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for private in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
        for public in
            ["1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]
        {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn urls_are_normalised_and_private_ones_refused_in_every_spelling() {
        let ok = |raw: &str| parse_url(raw, Destinations::PublicOnly).map(|u| u.to_string());
        assert_eq!(ok("https://API.OpenAI.com:443/v1").unwrap(), "https://api.openai.com/v1");
        assert_eq!(ok("https://my-resource.openai.azure.com").unwrap(), "https://my-resource.openai.azure.com/");
        assert_eq!(ok("https://bücher.example/v1").unwrap(), "https://xn--bcher-kva.example/v1");
        for (bad, why) in [
            ("http://api.example.com/v1", Refused::NotHttps),
            ("https://10.0.0.5/v1", Refused::Private),
            ("https://169.254.169.254/latest", Refused::Private),
            ("https://127.0.0.1:11434/v1", Refused::Private),
            ("https://2130706433/", Refused::Private),
            ("https://0x7f.1/", Refused::Private),
            ("https://0177.0.0.1/", Refused::Private),
            ("https://127.1/", Refused::Private),
            ("https://[::1]/v1", Refused::Private),
            ("https://[::ffff:10.0.0.1]/", Refused::Private),
            ("https://[::ffff:a00:1]/", Refused::Private),
            ("https://[fd00::1]/v1", Refused::Private),
            ("https://100.64.0.1/", Refused::Private),
            ("https://0.0.0.0/", Refused::Private),
            ("https://localhost/v1", Refused::Private),
            ("https://api.localhost/v1", Refused::Private),
            ("https://metadata.google.internal/", Refused::Private),
            ("https://printer.local/", Refused::Private),
            ("https://intranet/", Refused::Private),
            ("https://user:pass@api.example.com", Refused::Credentials),
            ("https://api.example.com/v1?x=1", Refused::QueryOrFragment),
            ("https://api.example.com/v1#x", Refused::QueryOrFragment),
            ("http:///v1", Refused::Shape),
            ("https:/api.example.com", Refused::Shape),
            ("https:api.example.com", Refused::Shape),
            ("ftp://api.example.com", Refused::Shape),
            ("https://api.example.com/v1\r\nX-Injected: 1", Refused::Characters),
            ("https://api.example.com/ v1", Refused::Characters),
            ("https:\\\\10.0.0.1\\v1", Refused::Characters),
            ("not a url", Refused::Characters),
            ("https://ex\u{200B}ample.com/v1", Refused::Characters),
            ("https://example..com/v1", Refused::HostName),
            ("https://-bad-.com/v1", Refused::HostName),
            ("https://example.com./v1", Refused::HostName),
            ("https://exa_mple.com/v1", Refused::HostName),
            ("https://example.com:0/v1", Refused::Port),
        ] {
            assert_eq!(ok(bad), Err(why), "{bad}");
        }
        assert!(matches!(ok("https://"), Err(Refused::Shape)));
    }

    #[test]
    fn any_destination_still_needs_a_well_formed_url() {
        let any = |raw: &str| parse_url(raw, Destinations::Any).map(|u| u.to_string());
        assert_eq!(any("http://127.0.0.1:11434/v1").unwrap(), "http://127.0.0.1:11434/v1");
        assert_eq!(any("http://2130706433/").unwrap(), "http://127.0.0.1/");
        assert_eq!(any("https://user:pass@127.0.0.1"), Err(Refused::Credentials));
        assert_eq!(any("http:///v1"), Err(Refused::Shape));
        assert_eq!(any("http://a.example/\n"), Err(Refused::Characters));
    }

    #[test]
    fn only_public_resolved_addresses_are_kept() {
        let addrs = |list: &[&str]| list.iter().map(|a| SocketAddr::new(ip(a), 443)).collect::<Vec<_>>();
        let kept = permitted("mixed.example", addrs(&["10.0.0.1", "8.8.8.8"]), Destinations::PublicOnly).unwrap();
        assert_eq!(kept, addrs(&["8.8.8.8"]));
        let refused = permitted("rebind.example", addrs(&["127.0.0.1", "::1"]), Destinations::PublicOnly).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::PermissionDenied);
        assert!(refused.to_string().contains("rebind.example resolves to no public address"));
        assert_eq!(permitted("x", addrs(&["127.0.0.1"]), Destinations::Any).unwrap(), addrs(&["127.0.0.1"]));
    }
}
