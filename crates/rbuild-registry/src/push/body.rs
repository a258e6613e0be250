//! Sending a blob's bytes: one streaming PUT, or PATCH chunks then a closing PUT, read from
//! the store's file on blocking threads.

use std::os::unix::fs::FileExt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use rbuild_oci::Digest;
use reqwest::{Method, Response, Url};

use super::upload::{count, location, range_end, Session, Upload};
use super::PushEvent;
use crate::client::Client;
use crate::error::RegistryError;

/// Bytes read from disk per body chunk.
const READ_CHUNK: u64 = 256 << 10;

/// A request body streaming `len` bytes of `file` from `start`, read on blocking threads;
/// each chunk read is added to `sent`.
fn range_body(
    file: Arc<std::fs::File>,
    start: u64,
    len: u64,
    sent: Arc<AtomicU64>,
) -> reqwest::Body {
    let stream = futures_util::stream::try_unfold(
        (file, start, start + len, sent),
        |(file, pos, end, sent)| async move {
            if pos >= end {
                return Ok(None);
            }
            let n = (end - pos).min(READ_CHUNK) as usize;
            let f = file.clone();
            let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, pos)?;
                Ok(buf)
            })
            .await
            .map_err(std::io::Error::other)??;
            count(&sent, n as u64);
            let next = (file, pos + n as u64, end, sent);
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), next)))
        },
    );
    reqwest::Body::wrap_stream(stream)
}

fn with_digest(url: &Url, digest: &Digest) -> Url {
    let mut u = url.clone();
    u.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    u
}

impl Client {
    /// One streaming PUT of the whole blob.
    pub(super) async fn put_whole(
        &self,
        up: &Upload<'_>,
        s: &Session,
    ) -> Result<(), RegistryError> {
        let url = with_digest(&s.location, &up.desc.digest);
        let size = up.desc.size;
        let resp = self
            .request(up.ep, &up.scopes(), Method::PUT, &url, &|rb| {
                let body = range_body(up.file.clone(), 0, size, up.sent.clone());
                Ok(rb
                    .header("content-type", "application/octet-stream")
                    .header("content-length", size.to_string())
                    .body(body))
            })
            .await?;
        self.finish(resp, up).await
    }

    /// PATCHes the blob in chunks from the session's current offset, then PUTs the digest.
    pub(super) async fn put_chunked(
        &self,
        up: &Upload<'_>,
        s: &mut Session,
    ) -> Result<(), RegistryError> {
        let (desc, chunk) = (up.desc, self.inner.chunk_size.max(s.min_chunk));
        while s.offset < desc.size {
            let len = chunk.min(desc.size - s.offset);
            self.patch_chunk(up, s, len).await?;
            (up.progress)(PushEvent::Progress {
                digest: desc.digest.clone(),
                sent: s.offset,
                total: desc.size,
            });
        }
        let url = with_digest(&s.location, &desc.digest);
        let resp = self
            .request(up.ep, &up.scopes(), Method::PUT, &url, &|rb| {
                Ok(rb.header("content-length", "0"))
            })
            .await?;
        self.finish(resp, up).await
    }

    /// PATCHes `len` bytes from the session's offset; moves the session to what the registry
    /// says it now holds.
    async fn patch_chunk(
        &self,
        up: &Upload<'_>,
        s: &mut Session,
        len: u64,
    ) -> Result<(), RegistryError> {
        let offset = s.offset;
        let range = format!("{offset}-{}", offset + len - 1);
        let loc = s.location.clone();
        let resp = self
            .request(up.ep, &up.scopes(), Method::PATCH, &loc, &|rb| {
                let body = range_body(up.file.clone(), offset, len, up.sent.clone());
                Ok(rb
                    .header("content-type", "application/octet-stream")
                    .header("content-range", range.as_str())
                    .header("content-length", len.to_string())
                    .body(body))
            })
            .await?;
        if resp.status().as_u16() != 202 {
            let what = format!("blob {} chunk {range}", up.desc.digest);
            return Err(self.status_error(resp, &Method::PATCH, up.ep, &what).await);
        }
        s.location = location(&resp, up.ep)?;
        s.offset = range_end(&resp).map_or(offset + len, |e| e + 1);
        Ok(())
    }

    /// Checks the final PUT: 201 and, when the registry says, the right digest.
    async fn finish(&self, resp: Response, up: &Upload<'_>) -> Result<(), RegistryError> {
        let desc = up.desc;
        if resp.status().as_u16() != 201 {
            return Err(self
                .status_error(resp, &Method::PUT, up.ep, &format!("blob {}", desc.digest))
                .await);
        }
        let seen = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<Digest>().ok());
        match seen {
            Some(actual) if actual != desc.digest => Err(RegistryError::DigestMismatch {
                what: format!("blob uploaded to {}", up.ep.name()),
                expected: desc.digest.clone(),
                actual,
            }),
            _ => Ok(()),
        }
    }
}
