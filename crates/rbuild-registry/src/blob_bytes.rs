//! One blob read into memory (bounded, checked against its digest and size), for callers that
//! put its bytes somewhere other than the store: a cache-mount import writes chunks straight
//! into the files they belong to.

use rbuild_oci::{Descriptor, Digest, Reference};
use reqwest::Method;

use crate::client::Client;
use crate::error::RegistryError;

impl Client {
    /// Reads the blob `desc` describes from `repository` into memory. A blob declared (or
    /// sent) larger than `limit` is refused, as is one whose bytes are not `desc`'s; a
    /// transfer that breaks is started again, as often as the retry policy allows.
    pub async fn blob_bytes(
        &self,
        repository: &Reference,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let r = repository;
        let ep = self.endpoint(&r.registry, r.endpoint_host(), &r.repository)?;
        let what = format!("blob {} from {}", desc.digest, ep.name());
        if desc.size > limit {
            return Err(RegistryError::TooLarge { what, limit });
        }
        let url = ep.url(&format!("blobs/{}", desc.digest))?;
        let scopes = [ep.scope("pull")];
        let mut attempt = 1;
        let bytes = loop {
            let resp = self.request(&ep, &scopes, Method::GET, &url, &Ok).await?;
            if !resp.status().is_success() {
                return Err(self.status_error(resp, &Method::GET, &ep, &what).await);
            }
            match self
                .transport()
                .read_small(resp, "GET", &url, desc.size)
                .await
            {
                Ok(bytes) => break bytes,
                Err(e) if e.is_transient() && attempt < self.inner.retry.attempts => {
                    self.transport().retrying(&what, attempt + 1, e.to_string());
                    tokio::time::sleep(self.inner.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        check(what, desc, bytes)
    }
}

/// The bytes if they are the blob `desc` describes.
fn check(what: String, desc: &Descriptor, bytes: Vec<u8>) -> Result<Vec<u8>, RegistryError> {
    let actual = bytes.len() as u64;
    if actual != desc.size {
        let expected = desc.size;
        return Err(RegistryError::SizeMismatch {
            what,
            expected,
            actual,
        });
    }
    let actual = Digest::of(&bytes);
    if actual != desc.digest {
        let expected = desc.digest.clone();
        return Err(RegistryError::DigestMismatch {
            what,
            expected,
            actual,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_described_bytes_pass() {
        let desc = Descriptor::new("x", Digest::of(b"abc"), 3);
        assert_eq!(check("b".into(), &desc, b"abc".to_vec()).unwrap(), b"abc");
        assert!(matches!(
            check("b".into(), &desc, b"abd".to_vec()),
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert!(matches!(
            check("b".into(), &desc, b"ab".to_vec()),
            Err(RegistryError::SizeMismatch { .. })
        ));
    }
}
