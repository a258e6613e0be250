//! What steps may use while a plan runs: the request (read, never copied), the store, the
//! progress reporter, and the local contexts COPY reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rbuild_context::local::LocalContext;
use rbuild_context::remote::{ProxyConfig, UrlFetcher};
use rbuild_layer::WriteOptions;
use rbuild_store::Store;

use crate::plan::CopyFrom;
use crate::progress::Reporter;
use crate::remote_cache::Imported;
use crate::{BuildError, BuildRequest};

/// The effects a running plan uses.
pub struct Runtime<'a> {
    /// The build's request: limits, compression, SOURCE_DATE_EPOCH, sandbox executable.
    pub request: &'a BuildRequest,
    /// The store.
    pub store: Arc<Store>,
    /// Where progress goes.
    pub reporter: Arc<dyn Reporter>,
    /// The local contexts COPY reads.
    pub contexts: Contexts,
    /// Downloads `ADD <url>` sources (the caller's HTTP stack: certificates, proxies).
    pub fetcher: &'a dyn UrlFetcher,
    /// Computing keys for `debug plan`: remote sources (URLs, git) are not fetched.
    pub plan_only: bool,
    /// The `--cache-from` caches: layer blobs of their hits are fetched when unpacked.
    pub imported: &'a Imported<'a>,
}

impl Runtime<'_> {
    /// How new layers are written.
    pub fn layer_options(&self) -> WriteOptions {
        WriteOptions {
            compression: self.request.compression,
            source_date_epoch: self.request.source_date_epoch,
        }
    }

    /// The proxy build args (`HTTP_PROXY`, `NO_PROXY`, ...), which BuildKit uses for ADD too.
    pub fn proxy(&self) -> ProxyConfig {
        ProxyConfig::from_vars(
            self.request
                .build_args
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
    }

    /// The time recorded for a step that runs now (SOURCE_DATE_EPOCH when it is earlier).
    pub fn step_time(&self) -> i64 {
        let now = crate::time::now_unix();
        self.request.source_date_epoch.map_or(now, |e| e.min(now))
    }
}

/// The build context and the named local contexts, each opened once per build.
pub struct Contexts {
    main: Arc<LocalContext>,
    store: Option<Arc<Store>>,
    dirs: Mutex<HashMap<PathBuf, Arc<LocalContext>>>,
}

impl Contexts {
    /// The build context at `dir` with the ignore file that goes with `dockerfile`.
    pub fn open(
        dir: &Path,
        dockerfile: Option<&Path>,
        store: Option<Arc<Store>>,
    ) -> Result<Contexts, BuildError> {
        let main = LocalContext::open(dir.to_path_buf(), dockerfile, store.clone())
            .map_err(BuildError::Context)?;
        Ok(Contexts {
            main: Arc::new(main),
            store,
            dirs: Mutex::default(),
        })
    }

    /// The build context.
    pub fn main(&self) -> &Arc<LocalContext> {
        &self.main
    }

    /// Opens the named local contexts now, each with its own `.dockerignore` (as BuildKit
    /// reads it for every local context), so that a bad ignore file fails the build at once.
    pub fn open_named(&self, dirs: impl IntoIterator<Item = PathBuf>) -> Result<(), BuildError> {
        let mut opened = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        for dir in dirs {
            let ctx = LocalContext::open(dir.clone(), None, self.store.clone())
                .map_err(BuildError::Context)?;
            opened.insert(dir, Arc::new(ctx));
        }
        Ok(())
    }

    /// The local context a COPY reads (`None` when it reads another vertex).
    pub fn for_copy(&self, from: &CopyFrom) -> Option<Arc<LocalContext>> {
        match from {
            CopyFrom::Context => Some(self.main.clone()),
            CopyFrom::Input => None,
            CopyFrom::Dir(dir) => {
                let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                let ctx = dirs.entry(dir.clone()).or_insert_with(|| {
                    Arc::new(LocalContext::plain(dir.clone(), self.store.clone()))
                });
                Some(ctx.clone())
            }
        }
    }
}
