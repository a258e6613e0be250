//! The HTTP client for one URL download: the registry client's TLS setup for the URL's host
//! (extra CAs and client certificate from the certs directory, no verification for hosts
//! listed as insecure), its connect timeout, and the proxy the build args name for the URL
//! (never the process environment's: a build is reproducible from its arguments).

use rbuild_context::remote::ProxyConfig;
use reqwest::Url;

use crate::client::Client;
use crate::error::RegistryError;
use crate::transport::{self, host_of};

impl Client {
    /// A reqwest client for downloading `url` through `proxy`.
    pub(super) fn url_http(
        &self,
        url: &Url,
        proxy: &ProxyConfig,
    ) -> Result<reqwest::Client, RegistryError> {
        let host = host_of(url);
        let opts = self.options();
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.timeouts.connect)
            .no_proxy();
        if !proxy.is_empty() {
            let cfg = proxy.clone();
            b = b.proxy(reqwest::Proxy::custom(move |u| cfg.proxy_for(u.as_str())));
        }
        let insecure = url.scheme() == "https" && self.is_insecure(&host);
        b = self.tls_for(b, &host, insecure)?;
        b.build().map_err(|e| RegistryError::ClientSetup {
            host,
            reason: transport::describe(&e),
        })
    }
}
