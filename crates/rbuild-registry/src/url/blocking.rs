//! [`UrlFetch`]: the registry client as the builder's synchronous [`UrlFetcher`].

use std::path::Path;
use std::sync::OnceLock;

use rbuild_context::remote::{Download, ProxyConfig, RemoteError, UrlFetcher};
use tokio::runtime::{Handle, Runtime};

use crate::blocking::block_on;
use crate::client::Client;
use crate::error::RegistryError;

/// Downloads ADD URLs with a registry [`Client`] (its certificates, insecure hosts, timeouts
/// and retries), blocking the calling thread; callable from any thread, inside a runtime
/// or not.
pub struct UrlFetch {
    client: Client,
    handle: Option<Handle>,
    /// Started on first use when no runtime was given.
    own: OnceLock<Runtime>,
}

impl UrlFetch {
    /// A fetcher running its downloads on a small runtime of its own, started on first use.
    pub fn new(client: Client) -> UrlFetch {
        UrlFetch {
            client,
            handle: None,
            own: OnceLock::new(),
        }
    }

    /// A fetcher running its downloads on `runtime` (a multi-thread one: the caller blocks).
    pub fn with_runtime(client: Client, runtime: Handle) -> UrlFetch {
        UrlFetch {
            client,
            handle: Some(runtime),
            own: OnceLock::new(),
        }
    }

    fn handle(&self) -> std::io::Result<Handle> {
        if let Some(h) = &self.handle {
            return Ok(h.clone());
        }
        if let Some(rt) = self.own.get() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rbuild-url-fetch")
            .enable_all()
            .build()?;
        Ok(self.own.get_or_init(|| rt).handle().clone())
    }
}

impl UrlFetcher for UrlFetch {
    fn fetch(
        &self,
        url: &str,
        dest_dir: &Path,
        proxy: &ProxyConfig,
    ) -> Result<Download, RemoteError> {
        let handle = self.handle().map_err(|e| RemoteError::fetch(url, e))?;
        let fetched = block_on(&handle, || self.client.fetch_url(url, dest_dir, proxy))
            .ok_or_else(|| RemoteError::fetch(url, "the download thread panicked"))?;
        fetched.map_err(|e| match e {
            RegistryError::Download(inner) => inner,
            other => RemoteError::fetch(url, other),
        })
    }
}

impl Drop for UrlFetch {
    fn drop(&mut self) {
        // A runtime dropped the ordinary way blocks, which panics inside another runtime.
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}
