//! Downloading blobs: several at a time, streamed into the store, resumed with `Range` after a
//! broken or stalled transfer, verified (size and digest) before they are committed.

use futures_util::{StreamExt, TryStreamExt};
use rbuild_oci::{Descriptor, Manifest};
use rbuild_store::Store;
use reqwest::{Method, Url};

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::progress::{PullEvent, LAYER_STEP};
use crate::sink::BlobSink;
use crate::sources;
use crate::transport::{network_error, range_start, CopyError};

/// A layer's place in the image (1-based index, count), for progress.
type Place = Option<(usize, usize)>;

impl Client {
    /// Downloads config and layers not yet in the store, several at a time.
    pub(super) async fn fetch_blobs(
        &self,
        store: &Store,
        ep: &Endpoint,
        scopes: &[String],
        m: &Manifest,
        with_layers: bool,
    ) -> Result<(), RegistryError> {
        let count = m.layers.len();
        let layers = m
            .layers
            .iter()
            .enumerate()
            .map(|(i, d)| (d, Some((i + 1, count))));
        let all: Vec<(&Descriptor, Place)> =
            std::iter::once((&m.config, None)).chain(layers).collect();
        let mut seen = std::collections::HashSet::new();
        // Collected first: a lazy filter held across the await would make the future !Send.
        let missing: Vec<_> = all
            .iter()
            .filter(|(_, place)| with_layers || place.is_none())
            .filter(|(d, _)| seen.insert(d.digest.clone()) && !store.has_blob(&d.digest))
            .map(|(d, place)| self.fetch_blob(store, ep, scopes, d, *place))
            .collect();
        futures_util::stream::iter(missing)
            .buffer_unordered(self.inner.parallel)
            .try_collect::<Vec<()>>()
            .await?;
        for (d, _) in all {
            sources::record(store, &d.digest, &ep.name());
        }
        Ok(())
    }

    /// Streams one blob into the store, resuming with `Range` after a broken connection.
    pub(crate) async fn fetch_blob(
        &self,
        store: &Store,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        place: Place,
    ) -> Result<(), RegistryError> {
        let url = ep.url(&format!("blobs/{}", desc.digest))?;
        let what = format!("blob {} from {}", desc.digest, ep.name());
        let mut meter = Meter::new(self, desc, place);
        let mut sink = BlobSink::new(store)?;
        let mut broken = 0;
        loop {
            let resp = self
                .get_from(ep, scopes, &url, desc, sink.written())
                .await?;
            if resp.status().as_u16() == 200 && sink.written() > 0 {
                sink = BlobSink::new(store)?;
            }
            let copied = self.copy_body(resp, &mut sink, &url, &what, &mut meter);
            let err = match copied.await {
                Ok(()) => break,
                Err(CopyError::Fatal(e)) => return Err(e),
                Err(CopyError::Broken(e)) => e,
            };
            broken += 1;
            if broken >= self.inner.retry.attempts {
                return Err(err);
            }
            let again = format!("blob {}", desc.digest);
            self.transport()
                .retrying(&again, broken + 1, err.to_string());
            tokio::time::sleep(self.inner.retry.backoff(broken)).await;
        }
        sink.commit(&desc.digest, desc.size, &what).await?;
        meter.done();
        Ok(())
    }

    /// GETs the blob from byte `offset` on: a 206 from there, or a 200 with all of it.
    async fn get_from(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        url: &Url,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<reqwest::Response, RegistryError> {
        let resp = self
            .request(ep, scopes, Method::GET, url, &|rb| {
                Ok(match offset {
                    0 => rb,
                    _ => rb.header("range", format!("bytes={offset}-")),
                })
            })
            .await?;
        match resp.status().as_u16() {
            206 if offset > 0 && range_start(&resp) == Some(offset) => Ok(resp),
            200 => Ok(resp),
            _ => {
                let what = format!("blob {}", desc.digest);
                Err(self.status_error(resp, &Method::GET, ep, &what).await)
            }
        }
    }

    /// Copies a response body into the sink, never past the descriptor's size.
    async fn copy_body(
        &self,
        resp: reqwest::Response,
        sink: &mut BlobSink,
        url: &Url,
        what: &str,
        meter: &mut Meter<'_>,
    ) -> Result<(), CopyError> {
        let (transport, desc) = (self.transport(), meter.desc);
        let mut body = resp.bytes_stream();
        meter.update(sink.written());
        while let Some(chunk) = transport
            .next_chunk(&mut body, "GET", url)
            .await
            .map_err(CopyError::from)?
        {
            let received = sink.written() + chunk.len() as u64;
            if received > desc.size {
                return Err(CopyError::Fatal(RegistryError::SizeMismatch {
                    what: what.to_string(),
                    expected: desc.size,
                    actual: received,
                }));
            }
            sink.write(chunk).await.map_err(CopyError::Fatal)?;
            meter.update(received);
        }
        if sink.written() < desc.size {
            let reason = format!("body ended after {} of {} bytes", sink.written(), desc.size);
            return Err(CopyError::Broken(network_error("GET", url, reason)));
        }
        Ok(())
    }
}

/// Reports a layer's progress: at the start, every [`LAYER_STEP`] bytes, and when stored.
struct Meter<'a> {
    client: &'a Client,
    desc: &'a Descriptor,
    place: Place,
    reported: Option<u64>,
}

impl<'a> Meter<'a> {
    fn new(client: &'a Client, desc: &'a Descriptor, place: Place) -> Self {
        Meter {
            client,
            desc,
            place,
            reported: None,
        }
    }

    fn update(&mut self, received: u64) {
        let due = match self.reported {
            None => true,
            // A restart from 0 (the server ignored Range) shows as going back.
            Some(r) => received < r || received >= r + LAYER_STEP,
        };
        if due && received < self.desc.size {
            self.emit(received);
        }
    }

    fn done(&mut self) {
        self.emit(self.desc.size);
    }

    fn emit(&mut self, received: u64) {
        let Some((index, count)) = self.place else {
            return;
        };
        self.reported = Some(received);
        self.client.report(PullEvent::Layer {
            index,
            count,
            digest: self.desc.digest.clone(),
            received,
            size: self.desc.size,
        });
    }
}
