//! Sending a blob's bytes: one streaming PUT, or PATCH chunks then a closing PUT, read from
//! the store's file on blocking threads.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use rbuild_oci::{Descriptor, Digest};
use reqwest::{Method, Response, Url};

use super::upload::{location, range_end, Session};
use super::PushEvent;
use crate::client::{Client, Endpoint};
use crate::error::RegistryError;

/// Bytes read from disk per body chunk.
const READ_CHUNK: u64 = 256 << 10;

/// A request body streaming `len` bytes of `file` from `start`, read on blocking threads.
fn range_body(file: Arc<std::fs::File>, start: u64, len: u64) -> reqwest::Body {
    let stream = futures_util::stream::try_unfold(
        (file, start, start + len),
        |(file, pos, end)| async move {
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
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), (file, pos + n as u64, end))))
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
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        s: &Session,
        file: &Arc<std::fs::File>,
    ) -> Result<(), RegistryError> {
        let url = with_digest(&s.location, &desc.digest);
        let size = desc.size;
        let resp = self
            .request(ep, scopes, Method::PUT, &url, &|rb| {
                Ok(rb
                    .header("content-type", "application/octet-stream")
                    .header("content-length", size.to_string())
                    .body(range_body(file.clone(), 0, size)))
            })
            .await?;
        self.finish(resp, ep, desc).await
    }

    /// PATCHes the blob in chunks from the session's current offset, then PUTs the digest.
    pub(super) async fn put_chunked(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        s: &mut Session,
        file: &Arc<std::fs::File>,
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        let chunk = self.inner.chunk_size.max(s.min_chunk);
        while s.offset < desc.size {
            let len = chunk.min(desc.size - s.offset);
            self.patch_chunk(ep, scopes, desc, s, file, len).await?;
            progress(PushEvent::Progress {
                digest: desc.digest.clone(),
                sent: s.offset,
                total: desc.size,
            });
        }
        let url = with_digest(&s.location, &desc.digest);
        let resp = self
            .request(ep, scopes, Method::PUT, &url, &|rb| {
                Ok(rb.header("content-length", "0"))
            })
            .await?;
        self.finish(resp, ep, desc).await
    }

    /// PATCHes `len` bytes from the session's offset; moves the session to what the registry
    /// says it now holds.
    async fn patch_chunk(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        s: &mut Session,
        file: &Arc<std::fs::File>,
        len: u64,
    ) -> Result<(), RegistryError> {
        let offset = s.offset;
        let range = format!("{offset}-{}", offset + len - 1);
        let loc = s.location.clone();
        let resp = self
            .request(ep, scopes, Method::PATCH, &loc, &|rb| {
                Ok(rb
                    .header("content-type", "application/octet-stream")
                    .header("content-range", range.as_str())
                    .header("content-length", len.to_string())
                    .body(range_body(file.clone(), offset, len)))
            })
            .await?;
        if resp.status().as_u16() != 202 {
            let what = format!("blob {} chunk {range}", desc.digest);
            return Err(self.status_error(resp, &Method::PATCH, ep, &what).await);
        }
        s.location = location(&resp, ep)?;
        s.offset = range_end(&resp).map_or(offset + len, |e| e + 1);
        Ok(())
    }

    /// Checks the final PUT: 201 and, when the registry says, the right digest.
    async fn finish(
        &self,
        resp: Response,
        ep: &Endpoint,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        if resp.status().as_u16() != 201 {
            return Err(self
                .status_error(resp, &Method::PUT, ep, &format!("blob {}", desc.digest))
                .await);
        }
        let seen = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<Digest>().ok());
        match seen {
            Some(actual) if actual != desc.digest => Err(RegistryError::DigestMismatch {
                what: format!("blob uploaded to {}", ep.name()),
                expected: desc.digest.clone(),
                actual,
            }),
            _ => Ok(()),
        }
    }
}
