//! The proxy settings ADD of a URL follows: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
//! `NO_PROXY` (either case) from the build args, and which URL goes through which proxy.

use std::fmt;
use std::net::IpAddr;

/// Proxies for URL downloads, as given by the build args. Plain data: the fetcher decides
/// per URL with [`ProxyConfig::proxy_for`]. `Debug` hides any `user:password@` of a proxy.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ProxyConfig {
    /// Proxy for `http://` URLs.
    pub http: Option<String>,
    /// Proxy for `https://` URLs.
    pub https: Option<String>,
    /// Proxy for either scheme when the scheme's own is not set.
    pub all: Option<String>,
    /// Comma-separated hosts, domains, IPs, CIDRs (each optionally `:port`), or `*`.
    pub no_proxy: Option<String>,
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |p: &Option<String>| p.as_deref().map(super::redact);
        f.debug_struct("ProxyConfig")
            .field("http", &hide(&self.http))
            .field("https", &hide(&self.https))
            .field("all", &hide(&self.all))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyConfig {
    /// Reads the proxy variables among `vars` (build args or environment). Names match in
    /// either case; when both cases are given the upper-case one wins, as in Go's
    /// `ProxyFromEnvironment`. Empty values count as unset.
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> ProxyConfig {
        let mut found: [(Option<String>, bool); 4] = Default::default();
        for (name, value) in vars {
            let slot = match name.to_ascii_uppercase().as_str() {
                "HTTP_PROXY" => 0,
                "HTTPS_PROXY" => 1,
                "ALL_PROXY" => 2,
                "NO_PROXY" => 3,
                _ => continue,
            };
            let upper = name.bytes().all(|b| !b.is_ascii_lowercase());
            let (value_slot, from_upper) = &mut found[slot];
            if !value.is_empty() && (value_slot.is_none() || (upper && !*from_upper)) {
                *value_slot = Some(value.to_string());
                *from_upper = upper;
            }
        }
        let [http, https, all, no_proxy] = found.map(|(v, _)| v);
        ProxyConfig {
            http,
            https,
            all,
            no_proxy,
        }
    }

    /// Whether no proxy is set at all.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none() && self.all.is_none()
    }

    /// The proxy URL (`scheme://[user:pass@]host:port`) to fetch `url` through, if any.
    /// Loopback hosts are always fetched directly, as Go (and so BuildKit) does.
    pub fn proxy_for(&self, url: &str) -> Option<String> {
        let (scheme, host, port) = split_url(url)?;
        let proxy = match scheme.as_str() {
            "http" => self.http.as_ref().or(self.all.as_ref()),
            "https" => self.https.as_ref().or(self.all.as_ref()),
            _ => None,
        }?;
        if is_loopback(&host) || self.bypass(&host, port) {
            return None;
        }
        Some(if proxy.contains("://") {
            proxy.clone()
        } else {
            format!("http://{proxy}")
        })
    }

    /// Whether `NO_PROXY` names `host` (lower case, no brackets) on `port`.
    fn bypass(&self, host: &str, port: u16) -> bool {
        let Some(list) = &self.no_proxy else {
            return false;
        };
        list.split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .any(|entry| entry == "*" || no_proxy_matches(&entry.to_ascii_lowercase(), host, port))
    }
}

/// One `NO_PROXY` entry against a host: an IP, a CIDR, or a domain (`example.com` matches it
/// and its subdomains, `.example.com` and `*.example.com` only subdomains), with optional port.
fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    if let Some(cidr) = entry.split_once('/') {
        return cidr_contains(cidr, host);
    }
    let (name, want_port) = split_host_port(entry);
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    if name.parse::<IpAddr>().is_ok() || host.parse::<IpAddr>().is_ok() {
        return name == host;
    }
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        Some(_) => host.ends_with(name),
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

/// Whether `host` is an IP inside `net/bits`.
fn cidr_contains((net, bits): (&str, &str), host: &str) -> bool {
    let (Ok(net), Ok(bits), Ok(ip)) = (
        net.parse::<IpAddr>(),
        bits.parse::<u32>(),
        host.parse::<IpAddr>(),
    ) else {
        return false;
    };
    let (a, b, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    bits == 0 || (a >> shift) == (b >> shift)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` or `[v6]:port` into host (without brackets) and port.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (h, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (s, None),
    }
}

/// Scheme, lower-case host and port (the scheme's default when absent) of an http(s) URL.
fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_host_port(hostport);
    let default = if scheme == "https" { 443 } else { 80 };
    Some((scheme, host.to_ascii_lowercase(), port.unwrap_or(default)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(no_proxy: &str) -> ProxyConfig {
        ProxyConfig {
            http: Some("proxy.corp:3128".into()),
            https: Some("https://user:pw@sproxy.corp".into()),
            all: None,
            no_proxy: Some(no_proxy.into()),
        }
    }

    #[test]
    fn build_args_in_either_case_upper_wins() {
        let args = [
            ("http_proxy", "http://lower"),
            ("HTTP_PROXY", "http://upper"),
            ("https_proxy", "http://s"),
            ("no_proxy", "a.example"),
            ("OTHER", "x"),
            ("ALL_PROXY", ""),
        ];
        let p = ProxyConfig::from_vars(args);
        assert_eq!(p.http.as_deref(), Some("http://upper"));
        assert_eq!(p.https.as_deref(), Some("http://s"));
        assert_eq!(p.no_proxy.as_deref(), Some("a.example"));
        assert_eq!(p.all, None);
        assert!(ProxyConfig::from_vars([("FOO", "1")]).is_empty());
    }

    #[test]
    fn scheme_picks_the_proxy_and_bare_proxies_get_http() {
        let p = cfg("");
        let http = p.proxy_for("http://files.example/a");
        assert_eq!(http.as_deref(), Some("http://proxy.corp:3128"));
        let https = p.proxy_for("https://files.example/a");
        assert_eq!(https.as_deref(), Some("https://user:pw@sproxy.corp"));
        let all = ProxyConfig {
            all: Some("http://all:1".into()),
            ..Default::default()
        };
        assert_eq!(all.proxy_for("https://x/").as_deref(), Some("http://all:1"));
        assert_eq!(ProxyConfig::default().proxy_for("http://x/"), None);
    }

    #[test]
    fn no_proxy_domains_ips_cidrs_ports_and_star() {
        let p = cfg("example.com, .sub.test,10.0.0.0/8,192.168.1.5,h.port:8080,[::2]");
        let direct = |u: &str| p.proxy_for(u).is_none();
        assert!(direct("http://example.com/x") && direct("http://a.example.com/"));
        assert!(!direct("http://notexample.com/"));
        assert!(direct("http://a.sub.test/") && !direct("http://sub.test/"));
        assert!(direct("http://10.1.2.3/") && !direct("http://11.0.0.1/"));
        assert!(direct("http://192.168.1.5:99/") && !direct("http://192.168.1.6/"));
        assert!(direct("http://h.port:8080/") && !direct("http://h.port/"));
        assert!(direct("http://[::2]:80/"));
        assert!(direct("http://EXAMPLE.COM/"));
        assert!(cfg("*").proxy_for("http://anything/").is_none());
    }

    #[test]
    fn loopback_is_never_proxied() {
        let p = cfg("");
        assert!(p.proxy_for("http://127.0.0.1:5000/f").is_none());
        assert!(p.proxy_for("http://localhost/f").is_none());
        assert!(p.proxy_for("http://[::1]:8/f").is_none());
    }

    #[test]
    fn debug_hides_proxy_credentials() {
        let text = format!("{:?}", cfg(""));
        assert!(!text.contains("pw"), "{text}");
        assert!(text.contains("sproxy.corp"), "{text}");
    }
}
