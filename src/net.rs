//! Fetching URLs that came from outside (bot media, inline images in agents' rich text,
//! HubSpot's signed file URLs): the one checked resolver every such request goes through.
//!
//! Checking an address with a look-up of its own and then letting the HTTP client resolve
//! the name again lets a rebinding DNS name through (public the first time, loopback the
//! second). So the check happens inside the resolver reqwest connects with: it resolves,
//! drops the addresses the policy refuses, and fails when none is left. reqwest does not
//! call a resolver for IP literals, so those (including the forms `url` normalises, such as
//! `2130706433` and `127.1`) are checked on the URL before the request. Proxy environment
//! variables are ignored: a proxy would resolve the name itself, past this check.

use crate::client_addr::Cidr;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Which addresses a fetch may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Public addresses only: loopback, private and other local ranges are refused too.
    PublicOnly,
    /// Loopback and private ranges are allowed (a homelab bot serves media from its LAN);
    /// cloud metadata, link-local, multicast and reserved addresses are still refused.
    AllowPrivate,
}

/// What an address is, for deciding whether to connect to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Public,
    /// Loopback, private, shared (CGNAT), benchmarking and similar local ranges: refused
    /// only under [`Policy::PublicOnly`].
    Local(&'static str),
    /// Cloud metadata, link-local, multicast, broadcast, reserved: never a media host, and
    /// the metadata endpoints hand out credentials, so refused under every policy.
    Never(&'static str),
}

impl Class {
    /// Why `policy` refuses this address, or `None` when it may be connected to.
    pub(crate) fn refused_by(self, policy: Policy) -> Option<&'static str> {
        match (self, policy) {
            (Class::Public, _) | (Class::Local(_), Policy::AllowPrivate) => None,
            (Class::Local(why) | Class::Never(why), _) => Some(why),
        }
    }
}

/// The range table.
pub(crate) fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    const NEVER: &[(Cidr, &str)] = &[
        (
            Cidr::v4([169, 254, 169, 254], 32),
            "a cloud metadata address",
        ),
        (
            Cidr::v4([100, 100, 100, 200], 32),
            "a cloud metadata address",
        ),
        (Cidr::v4([169, 254, 0, 0], 16), "a link-local address"),
        (Cidr::v4([224, 0, 0, 0], 4), "a multicast address"),
        (Cidr::v4([255, 255, 255, 255], 32), "the broadcast address"),
        (Cidr::v4([240, 0, 0, 0], 4), "a reserved address"),
    ];
    const LOCAL: &[(Cidr, &str)] = &[
        (
            Cidr::v4([0, 0, 0, 0], 8),
            "a local (\"this network\") address",
        ),
        (Cidr::v4([10, 0, 0, 0], 8), "a private address"),
        (Cidr::v4([127, 0, 0, 0], 8), "a loopback address"),
        (Cidr::v4([172, 16, 0, 0], 12), "a private address"),
        (Cidr::v4([192, 168, 0, 0], 16), "a private address"),
        (Cidr::v4([100, 64, 0, 0], 10), "a shared (CGNAT) address"),
        (Cidr::v4([198, 18, 0, 0], 15), "a benchmarking address"),
        (Cidr::v4([192, 0, 0, 0], 24), "an IETF protocol address"),
    ];
    let ip = IpAddr::V4(ip);
    if let Some((_, why)) = NEVER.iter().find(|(net, _)| net.contains(ip)) {
        return Class::Never(why);
    }
    if let Some((_, why)) = LOCAL.iter().find(|(net, _)| net.contains(ip)) {
        return Class::Local(why);
    }
    Class::Public
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254) {
        return Class::Never("a cloud metadata address");
    }
    if ip.is_loopback() {
        return Class::Local("a loopback address");
    }
    if ip.is_unspecified() {
        return Class::Local("a local (\"this host\") address");
    }
    // Addresses that carry an IPv4 address reach that address (or stand for it): the
    // embedded one decides, so `::ffff:169.254.169.254` is the metadata endpoint.
    let embedded = if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        // IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96.
        Some((low_v4, None))
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some((low_v4, Some("a NAT64 address")))
    } else if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        Some((v4, Some("a 6to4 address")))
    } else {
        None
    };
    if let Some((v4, range)) = embedded {
        return match (classify_v4(v4), range) {
            (Class::Public, Some(range)) => Class::Local(range),
            (class, _) => class,
        };
    }
    match s[0] {
        0xfe80..=0xfebf => Class::Never("a link-local address"),
        0xff00..=0xffff => Class::Never("a multicast address"),
        0xfec0..=0xfeff => Class::Local("a site-local address"),
        0xfc00..=0xfdff => Class::Local("a private (unique local) address"),
        _ => Class::Public,
    }
}

/// A fetch refused because of where it would connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked {
    pub(crate) host: String,
    pub(crate) reason: &'static str,
    /// Refused under every policy (metadata, link-local…), not only when blocking.
    pub(crate) always: bool,
}

impl Blocked {
    fn new(host: &str, ip: IpAddr, policy: Policy) -> Option<Blocked> {
        let class = classify(ip);
        class.refused_by(policy).map(|reason| Blocked {
            host: host.to_string(),
            reason,
            always: matches!(class, Class::Never(_)),
        })
    }
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is {}", self.host, self.reason)
    }
}

impl std::error::Error for Blocked {}

/// The underlying name look-up, replaceable so tests can play a rebinding DNS server.
pub(crate) trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: String) -> LookupFuture;
}

pub(crate) type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

impl<F, Fut> Lookup for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'static,
{
    fn lookup(&self, host: String) -> LookupFuture {
        Box::pin(self(host))
    }
}

/// The system's resolver (getaddrinfo on a blocking thread).
async fn system_lookup(host: String) -> std::io::Result<Vec<IpAddr>> {
    Ok(tokio::net::lookup_host((host.as_str(), 0))
        .await?
        .map(|a| a.ip())
        .collect())
}

/// Names that resolve to fixed addresses. Only tests set these (the field that holds them
/// in [`crate::config::Config`] cannot be read from a file or the environment): they let a
/// made-up public name reach a test server on loopback, so a loopback answer is taken
/// unchecked; any other answer is checked like a DNS answer (a name that points at the
/// metadata endpoint, say).
#[derive(Debug, Clone, Default)]
pub struct TestHosts(Arc<HashMap<String, IpAddr>>);

impl TestHosts {
    pub fn new(hosts: impl IntoIterator<Item = (String, IpAddr)>) -> TestHosts {
        TestHosts(Arc::new(
            hosts
                .into_iter()
                .map(|(h, ip)| (h.to_ascii_lowercase(), ip))
                .collect(),
        ))
    }

    fn get(&self, host: &str) -> Option<IpAddr> {
        self.0.get(&host.to_ascii_lowercase()).copied()
    }
}

/// A `reqwest` resolver that only ever hands over addresses the policy allows.
#[derive(Clone)]
pub(crate) struct CheckedResolver {
    policy: Policy,
    lookup: Arc<dyn Lookup>,
    test_hosts: TestHosts,
}

impl CheckedResolver {
    pub(crate) fn new(policy: Policy, lookup: Arc<dyn Lookup>, test_hosts: TestHosts) -> Self {
        CheckedResolver {
            policy,
            lookup,
            test_hosts,
        }
    }

    /// The addresses of `host` that may be connected to; an error when there are none.
    pub(crate) async fn allowed(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let host = host.trim_end_matches('.');
        let found = match self.test_hosts.get(host) {
            Some(ip) if ip.is_loopback() => return Ok(vec![ip]),
            Some(ip) => vec![ip],
            None => self.lookup.lookup(host.to_string()).await?,
        };
        let mut refused = None;
        let allowed: Vec<IpAddr> = found
            .into_iter()
            .filter(|ip| match Blocked::new(host, *ip, self.policy) {
                None => true,
                Some(blocked) => {
                    refused.get_or_insert(blocked);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(blocked)) => Err(Box::new(blocked)),
            (true, None) => Err(format!("`{host}` has no address").into()),
        }
    }
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = this.allowed(&host).await?;
            // Port 0: reqwest puts in the URL's port.
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Why an outside URL gave no answer.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// Never tried: not http(s), or no host.
    Refused(String),
    /// Never tried: its address is refused.
    Blocked(Blocked),
    /// Tried and failed (connection, timeout); worth another try.
    Transport { timed_out: bool },
}

/// The part of the check that needs no look-up: refuses what is not http(s) and hosts that
/// are IP literals `policy` refuses. Names are checked when they are resolved.
pub(crate) fn check_url(url: &url::Url, policy: Policy) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Refused(
            "only http and https links are fetched".into(),
        ));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(FetchError::Refused("the link has no host".into())),
    };
    match Blocked::new(url.host_str().unwrap_or_default(), ip, policy) {
        None => Ok(()),
        Some(blocked) => Err(FetchError::Blocked(blocked)),
    }
}

/// Why `url` is refused before it is stored, when that can be told without a look-up
/// (`http://169.254.169.254/…`); `None` when it is fine or only a look-up can tell.
pub(crate) fn refused_literal(url: &str, policy: Policy) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    match check_url(&url, policy) {
        Ok(()) => None,
        Err(FetchError::Blocked(blocked)) => Some(format!("{blocked}, which handoff never calls")),
        Err(FetchError::Refused(why)) => Some(why),
        Err(FetchError::Transport { .. }) => None,
    }
}

/// An HTTP client for outside URLs: the checked resolver, no proxy, no redirects (a
/// redirect could point anywhere, past the literal-address check).
pub(crate) struct Outbound {
    http: reqwest::Client,
    policy: Policy,
}

impl Outbound {
    pub(crate) fn new(policy: Policy, timeout: Duration, test_hosts: &TestHosts) -> Outbound {
        Self::with_lookup(policy, timeout, test_hosts, Arc::new(system_lookup))
    }

    pub(crate) fn with_lookup(
        policy: Policy,
        timeout: Duration,
        test_hosts: &TestHosts,
        lookup: Arc<dyn Lookup>,
    ) -> Outbound {
        let resolver = CheckedResolver::new(policy, lookup, test_hosts.clone());
        let http = reqwest::Client::builder()
            .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(resolver)
            .build()
            .expect("the HTTP client configuration is static");
        Outbound { http, policy }
    }

    /// Refuses what is not http(s) and hosts that are refused IP literals.
    pub(crate) fn check(&self, url: &url::Url) -> Result<(), FetchError> {
        check_url(url, self.policy)
    }

    /// A GET of `url` through the checked resolver.
    pub(crate) async fn get(&self, url: &url::Url) -> Result<reqwest::Response, FetchError> {
        self.send(|http| http.get(url.clone())).await
    }

    /// Any request through the checked resolver: `build` makes it on this client, and its
    /// URL is checked like [`Outbound::get`]'s before anything is sent.
    pub(crate) async fn send(
        &self,
        build: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, FetchError> {
        let request = build(&self.http)
            .build()
            .map_err(|_| FetchError::Refused("the link is not a valid URL".into()))?;
        self.check(request.url())?;
        self.http.execute(request).await.map_err(|e| {
            // The resolver's refusal arrives wrapped in reqwest's connect error.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if let Some(blocked) = s.downcast_ref::<Blocked>() {
                    return FetchError::Blocked(blocked.clone());
                }
                source = s.source();
            }
            FetchError::Transport {
                timed_out: e.is_timeout(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_range_table() {
        for (addr, private_ok) in [
            ("0.0.0.0", true),
            ("0.1.2.3", true),
            ("10.1.2.3", true),
            ("127.0.0.1", true),
            ("127.255.0.9", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("192.168.0.5", true),
            ("100.64.0.1", true),
            ("100.127.255.254", true),
            ("198.18.0.1", true),
            ("198.19.255.1", true),
            ("192.0.0.8", true),
            ("169.254.169.254", false),
            ("169.254.1.1", false),
            ("100.100.100.200", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::1", true),
            ("::", true),
            ("fc00::1", true),
            ("fd12:3456::1", true),
            ("fec0::1", true),
            ("fe80::1", false),
            ("ff02::1", false),
            ("fd00:ec2::254", false),
            ("64:ff9b::808:808", true),
            ("64:ff9b::a9fe:a9fe", false),
            ("2002:808:808::1", true),
            ("2002:7f00:1::", true),
            ("2002:a9fe:a9fe::", false),
            ("::ffff:10.0.0.1", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:169.254.169.254", false),
            ("::127.0.0.1", true),
            ("::169.254.169.254", false),
        ] {
            let class = classify(ip(addr));
            assert!(
                class.refused_by(Policy::PublicOnly).is_some(),
                "{addr} refused when blocking: {class:?}"
            );
            assert_eq!(
                class.refused_by(Policy::AllowPrivate).is_none(),
                private_ok,
                "{addr} with private networks allowed: {class:?}"
            );
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "192.0.1.1",
            "2001:4860::8888",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(classify(ip(addr)), Class::Public, "{addr}");
        }
    }

    #[test]
    fn literal_hosts_in_every_form_url_accepts_are_checked() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let strict = Outbound::new(
            Policy::PublicOnly,
            Duration::from_secs(1),
            &TestHosts::default(),
        );
        let lan = Outbound::new(
            Policy::AllowPrivate,
            Duration::from_secs(1),
            &TestHosts::default(),
        );
        for (link, always) in [
            ("http://2130706433/", false),
            ("http://127.1/", false),
            ("http://0x7f.0.0.1/", false),
            ("http://0177.0.0.1/", false),
            ("http://[::ffff:7f00:1]/", false),
            ("http://[::1]:8080/", false),
            ("http://0/", false),
            ("http://2852039166/latest/meta-data/", true),
            ("http://169.254.169.254/", true),
            ("http://[::ffff:a9fe:a9fe]/", true),
            ("http://[fd00:ec2::254]/", true),
            ("http://100.100.100.200/", true),
            ("http://[fe80::1]/", true),
        ] {
            let url = url::Url::parse(link).unwrap();
            assert!(
                matches!(strict.check(&url), Err(FetchError::Blocked(_))),
                "{link} refused when blocking"
            );
            assert_eq!(
                matches!(lan.check(&url), Err(FetchError::Blocked(_))),
                always,
                "{link} with private networks allowed"
            );
        }
        let url = url::Url::parse("ftp://example.com/x").unwrap();
        assert!(matches!(lan.check(&url), Err(FetchError::Refused(_))));
        assert!(
            lan.check(&url::Url::parse("https://example.com/").unwrap())
                .is_ok()
        );
    }

    /// A name that answers a public address first and loopback after (a rebinding DNS
    /// server), or both at once.
    fn rebinding(answers: Vec<Vec<IpAddr>>) -> Arc<dyn Lookup> {
        let calls = Arc::new(AtomicUsize::new(0));
        Arc::new(move |_host: String| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let answer = answers[n.min(answers.len() - 1)].clone();
            async move { Ok(answer) }
        })
    }

    #[tokio::test]
    async fn the_resolver_hands_over_only_allowed_addresses() {
        let public = ip("203.0.113.7");
        let resolver = CheckedResolver::new(
            Policy::PublicOnly,
            rebinding(vec![vec![public, ip("127.0.0.1")], vec![ip("127.0.0.1")]]),
            TestHosts::default(),
        );
        // Mixed: the loopback answer is dropped, the public one is what reqwest gets.
        assert_eq!(
            resolver.allowed("rebind.example").await.unwrap(),
            vec![public]
        );
        // Only loopback (the rebind): refused, with the reason.
        let err = resolver.allowed("rebind.example").await.unwrap_err();
        let blocked = err.downcast_ref::<Blocked>().expect("a refusal");
        assert_eq!(blocked.reason, "a loopback address");
        // Metadata is refused even when private networks are allowed.
        let lan = CheckedResolver::new(
            Policy::AllowPrivate,
            rebinding(vec![vec![ip("10.0.0.2"), ip("169.254.169.254")]]),
            TestHosts::default(),
        );
        assert_eq!(
            lan.allowed("x.example").await.unwrap(),
            vec![ip("10.0.0.2")]
        );
    }

    /// A local HTTP server that counts the connections it gets.
    async fn counting_server() -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn rebinding_and_private_urls_are_never_fetched() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (port, hits) = counting_server().await;
        // The first answer (what a separate check would have seen) is public, every later
        // one loopback: the only look-up that matters is the one connected with.
        let outbound = Outbound::with_lookup(
            Policy::PublicOnly,
            Duration::from_secs(5),
            &TestHosts::default(),
            rebinding(vec![vec![ip("127.0.0.1")]]),
        );
        for link in [
            format!("http://rebind.example:{port}/photo.png"),
            format!("http://127.0.0.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://127.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            format!("http://localhost:{port}/"),
        ] {
            let got = outbound.get(&url::Url::parse(&link).unwrap()).await;
            assert!(
                matches!(got, Err(FetchError::Blocked(_))),
                "{link}: {got:?}"
            );
        }
        // Any request, not only a GET, and a test host that names a refused address.
        let metadata = Outbound::new(
            Policy::AllowPrivate,
            Duration::from_secs(5),
            &TestHosts::new([("metadata.test".to_string(), ip("169.254.169.254"))]),
        );
        for (client, link) in [
            (&outbound, format!("http://rebind.example:{port}/hook")),
            (&metadata, "http://metadata.test/hook".to_string()),
        ] {
            let got = client.send(|http| http.post(&link).body("{}")).await;
            assert!(
                matches!(got, Err(FetchError::Blocked(_))),
                "{link}: {got:?}"
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing reached the server");

        // The same server is reachable when private networks are allowed, and through a
        // test host when they are not: the refusals above are the policy, not the server.
        let lan = Outbound::new(
            Policy::AllowPrivate,
            Duration::from_secs(5),
            &TestHosts::default(),
        );
        let ok = lan
            .get(&url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let mapped = Outbound::new(
            Policy::PublicOnly,
            Duration::from_secs(5),
            &TestHosts::new([("cdn.test".to_string(), ip("127.0.0.1"))]),
        );
        let ok = mapped
            .get(&url::Url::parse(&format!("http://cdn.test:{port}/")).unwrap())
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}
