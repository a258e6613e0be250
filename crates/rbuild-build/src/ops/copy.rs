//! COPY and ADD: files from a local context, a heredoc, another stage, an URL or a git
//! repository; ADD also unpacks local archives.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rbuild_solver::{CacheKey, Components, KeyBuilder, KeyPart};
use rbuild_store::ScratchDir;

use crate::context::chmod::Chmod;
use crate::context::chown;
use crate::context::git::GitSource;
use crate::context::hashcache::{Digest, Prepared};
use crate::context::ignore::Matcher;
use crate::context::local::LocalContext;
use crate::context::remote::{self, Download};
use crate::context::select::{plan, plan_map, plan_with, CopyItem, KeepAll, PlanOptions};
use crate::context::tree::Tree;
use crate::context::write::{write_items, Attrs};
use crate::context::{archive, git};
use crate::image::FsState;
use crate::ops::prefetch::Prefetch;
use crate::ops::{commit_layer, ensure_snapshots, Runtime, StepMeta};
use crate::BuildError;

/// One COPY/ADD source.
#[derive(Clone, Debug)]
pub enum CopySource {
    /// A path or glob, relative to the context or the source stage's root.
    Path(String),
    /// A heredoc: a file `name` with `content`.
    Inline {
        /// File name.
        name: String,
        /// Its content.
        content: String,
    },
    /// ADD of an http(s) URL.
    Url(String),
    /// ADD of a git repository.
    Git(GitSource),
}

/// The local context a COPY reads (its directory, `.dockerignore` and digest cache).
///
/// The name is historical: it started as the exclusion function only.
pub type ExcludeFn = Arc<LocalContext>;

/// What only ADD does.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// `--checksum` of an URL source (`sha256:<hex>`).
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// Whether local archives are unpacked (`--unpack`, default true).
    pub unpack: bool,
}

/// A COPY or ADD step, fully expanded.
pub struct CopyOp {
    /// Display and location.
    pub step: StepMeta,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Absolute destination (WORKDIR applied).
    pub dest: String,
    /// Whether the destination was written with a trailing `/`.
    pub dest_is_dir: bool,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// Whether `inputs[1]` is the source (a stage or image); otherwise the local context.
    pub from_input: bool,
    /// The local context read when not `from_input`.
    pub exclude: ExcludeFn,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// ADD's options (`None` for COPY).
    pub add: Option<AddOptions>,
    /// Shared build runtime.
    pub rt: Arc<Runtime>,
    /// URL downloads made while computing the key, reused by `exec`.
    pub fetched: Mutex<Vec<(String, Download, Arc<ScratchDir>)>>,
    /// The local sources' key components, computed ahead of the key (see [`CopyOp::prefetch`]).
    pub prefetched: Prefetch<Result<ContextContent, BuildError>>,
}

/// One `file:<path>` key component per selected context entry (its content digest), in
/// selection order, in chunks encoded in parallel.
pub type ContextContent = Vec<KeyPart>;

/// Entries per chunk of [`ContextContent`].
const KEY_CHUNK: usize = 2048;

impl CopyOp {
    fn paths(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn exclude_matcher(&self) -> Result<Matcher, BuildError> {
        Matcher::new(&self.excludes).map_err(|e| self.step.error(e))
    }

    fn plan_options<'a>(&self, m: &'a Matcher) -> PlanOptions<'a> {
        PlanOptions {
            parents: self.parents,
            excludes: (!m.is_empty()).then_some(m),
        }
    }

    /// The key: parent, the op, and a digest of each selected context entry, URL or commit.
    pub fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), BuildError> {
        // 3: --chown owns the directories the step creates, and archive entries (ADD).
        let mut kb = KeyBuilder::new("copy", 3);
        if let Some(parent) = inputs.first() {
            kb = kb.key("parent", parent);
        }
        let add = self.add.clone().unwrap_or_default();
        kb = kb
            .list("sources", &self.paths())
            .str("dest", &self.dest)
            .str("dest_is_dir", if self.dest_is_dir { "1" } else { "0" })
            .opt_str("chown", self.chown.as_deref())
            .opt_str("chmod", self.chmod.as_ref().map(Chmod::key).as_deref())
            .str("parents", if self.parents { "1" } else { "0" })
            .list("exclude", &self.excludes);
        if self.add.is_some() {
            kb = kb
                .str("add", if add.unpack { "unpack" } else { "no-unpack" })
                .str("keep_git_dir", if add.keep_git_dir { "1" } else { "0" });
        }
        for s in &self.sources {
            kb = match s {
                CopySource::Inline { name, content } => kb.str(&format!("heredoc:{name}"), content),
                CopySource::Url(url) => kb.str(&format!("url:{url}"), &self.url_digest(url)?),
                CopySource::Git(g) => {
                    let commit = git::resolve_commit(g).map_err(|e| self.step.error(e))?;
                    let name = format!("git:{}#{:?}:{:?}", g.url, g.reference, g.subdir);
                    kb.str(&name, &commit)
                }
                CopySource::Path(_) => kb,
            };
        }
        if self.from_input {
            if let Some(src) = inputs.get(1) {
                kb = kb.key("from", src);
            }
        } else if !self.paths().is_empty() {
            let content = self
                .prefetched
                .take_or(|| self.context_content(&mut Vec::new()))?;
            kb = kb.parts(content);
        }
        Ok(kb.finish())
    }

    /// Walks and digests the local sources now, so that [`cache_key`](Self::cache_key) finds
    /// them ready; does nothing for other sources or if the key was already computed.
    pub fn prefetch(&self) {
        if !self.from_input && !self.paths().is_empty() {
            let mut walked = Vec::new();
            self.prefetched
                .run_ahead(|| self.context_content(&mut walked));
            // Thousands of entries are freed once the key can already use the result.
            drop(walked);
        }
    }

    /// The key components of the selected context entries; the entries are left in `walked`.
    fn context_content(&self, walked: &mut Vec<Prepared>) -> Result<ContextContent, BuildError> {
        let m = self.exclude_matcher()?;
        let tree = Tree::new(vec![self.exclude.dir.clone()]);
        let items = plan_map(
            &tree,
            &self.paths(),
            &self.dest,
            true,
            &*self.exclude,
            self.plan_options(&m),
            &Prepared::of,
        )
        .map_err(|e| self.step.error(e))?;
        let digests = self
            .exclude
            .hashes
            .digests(&items)
            .map_err(|(rel, e)| self.step.error(format!("{rel}: {e}")))?;
        let content = file_components(&items, &digests);
        *walked = items;
        Ok(content)
    }

    /// With `--checksum` the key needs no download; otherwise the content decides.
    fn url_digest(&self, url: &str) -> Result<String, BuildError> {
        if let Some(c) = self.add.as_ref().and_then(|a| a.checksum.as_deref()) {
            return remote::parse_checksum(c).map_err(|e| self.step.error(e));
        }
        Ok(self.download(url)?.digest)
    }

    fn download(&self, url: &str) -> Result<Download, BuildError> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, d, _)) = fetched.iter().find(|(u, _, _)| u == url) {
            return Ok(d.clone());
        }
        let dir = Arc::new(self.rt.store.scratch()?);
        let d = remote::download(url, dir.path()).map_err(|e| self.step.error(e))?;
        fetched.push((url.to_string(), d.clone(), dir));
        Ok(d)
    }

    /// Copies the sources into a fresh layer on top of the parent.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lower = Tree::new(ensure_snapshots(store, &parent)?);
        let dest_is_dir = self.dest_is_dir
            || self.sources.len() > 1
            || lower
                .resolve(&self.dest, true)
                .is_some_and(|f| f.meta.is_dir());
        let scratch = store.scratch()?;
        let mut items = self.select(inputs, dest_is_dir)?;
        items.extend(self.inline_items(scratch.path(), dest_is_dir)?);
        items.extend(self.remote_items(scratch.path(), dest_is_dir)?);
        let archives = self.split_archives(&mut items)?;
        let attrs = Attrs {
            owner: self.owner(&lower)?,
            mode: self.chmod.clone(),
        };
        let upper = scratch.path().join("upper");
        std::fs::create_dir(&upper).map_err(|e| self.step.error(e))?;
        write_items(&items, &upper, &lower, &attrs)
            .map_err(|e| self.step.error(format!("copy failed: {e}")))?;
        for (path, kind) in archives {
            let target = crate::context::write::make_dirs(&upper, &self.dest, &lower, attrs.owner)
                .and_then(|t| std::fs::create_dir_all(&t).map(|_| t))
                .map_err(|e| self.step.error(format!("copy failed: {e}")))?;
            let owner = self.chown.is_some().then_some(attrs.owner);
            archive::extract(&path, kind, &target, owner).map_err(|e| self.step.error(e))?;
        }
        commit_layer(&self.rt, &parent, &upper)
    }

    fn select(&self, inputs: &[FsState], dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let paths = self.paths();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let m = self.exclude_matcher()?;
        let opts = self.plan_options(&m);
        let result = if self.from_input {
            let src = inputs.get(1).cloned().unwrap_or_default();
            let tree = Tree::new(ensure_snapshots(&self.rt.store, &src)?);
            plan_with(&tree, &paths, &self.dest, dest_is_dir, &KeepAll, opts)
        } else {
            let tree = Tree::new(vec![self.exclude.dir.clone()]);
            plan_with(&tree, &paths, &self.dest, dest_is_dir, &*self.exclude, opts)
        };
        result.map_err(|e| self.step.error(e))
    }

    /// ADD: top-level local sources that are archives are unpacked instead of copied.
    fn split_archives(
        &self,
        items: &mut Vec<CopyItem>,
    ) -> Result<Vec<(std::path::PathBuf, archive::Compression)>, BuildError> {
        if !self.add.as_ref().is_some_and(|a| a.unpack) || self.from_input {
            return Ok(Vec::new());
        }
        let mut archives = Vec::new();
        let mut keep = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            let local = item.source.real.starts_with(&self.exclude.dir);
            let kind = if item.top && local && item.source.meta.is_file() {
                archive::detect(&item.source.real).map_err(|e| self.step.error(e))?
            } else {
                None
            };
            match kind {
                Some(k) => archives.push((item.source.real.clone(), k)),
                None => keep.push(item),
            }
        }
        *items = keep;
        Ok(archives)
    }

    fn inline_items(&self, scratch: &Path, dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let dir = scratch.join("heredocs");
        let mut names = Vec::new();
        for s in &self.sources {
            if let CopySource::Inline { name, content } = s {
                std::fs::create_dir_all(&dir).map_err(|e| self.step.error(e))?;
                std::fs::write(dir.join(name), content).map_err(|e| self.step.error(e))?;
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let tree = Tree::new(vec![dir]);
        plan(&tree, &names, &self.dest, dest_is_dir, &KeepAll).map_err(|e| self.step.error(e))
    }

    /// Downloads and checkouts, each planned like a COPY from its own directory.
    fn remote_items(&self, scratch: &Path, dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let mut items = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let (root, sources) = match s {
                CopySource::Url(url) => {
                    let d = self.download(url)?;
                    self.verify(url, &d)?;
                    let dir = d.path.parent().unwrap_or(scratch).to_path_buf();
                    (dir, vec![remote::file_name(url)])
                }
                CopySource::Git(g) => {
                    let commit = git::resolve_commit(g).map_err(|e| self.step.error(e))?;
                    let keep = self.add.as_ref().is_some_and(|a| a.keep_git_dir);
                    let dir = scratch.join(format!("git-{i}"));
                    let root =
                        git::checkout(g, &commit, &dir, keep).map_err(|e| self.step.error(e))?;
                    (root, vec![".".to_string()])
                }
                _ => continue,
            };
            let tree = Tree::new(vec![root]);
            let dir = dest_is_dir || matches!(s, CopySource::Git(_));
            items.extend(
                plan(&tree, &sources, &self.dest, dir, &KeepAll).map_err(|e| self.step.error(e))?,
            );
        }
        Ok(items)
    }

    fn verify(&self, url: &str, d: &Download) -> Result<(), BuildError> {
        let Some(c) = self.add.as_ref().and_then(|a| a.checksum.as_deref()) else {
            return Ok(());
        };
        let want = remote::parse_checksum(c).map_err(|e| self.step.error(e))?;
        if want != d.digest {
            return Err(self.step.error(format!(
                "checksum mismatch for {url}: expected {want}, got {}",
                d.digest
            )));
        }
        Ok(())
    }

    fn owner(&self, lower: &Tree) -> Result<(u32, u32), BuildError> {
        let Some(spec) = &self.chown else {
            return Ok((0, 0));
        };
        chown::resolve_in(spec, lower).map_err(|e| self.step.error(e))
    }
}

/// The `file:<path>` components of `items`, chunks encoded in parallel for a large context.
fn file_components(items: &[Prepared], digests: &[Digest]) -> ContextContent {
    let encode = |(items, digests): (&[Prepared], &[Digest])| {
        let mut part = KeyPart::with_capacity(items.len());
        let mut hex = [0u8; 64];
        for (item, d) in items.iter().zip(digests) {
            part.str_prefixed("file:", item.rel(), hex_str(d, &mut hex));
        }
        part
    };
    if items.len() <= KEY_CHUNK {
        return vec![encode((items, digests))];
    }
    items
        .par_chunks(KEY_CHUNK)
        .zip(digests.par_chunks(KEY_CHUNK))
        .map(encode)
        .collect()
}

/// Lowercase hex of a digest, written into `buf`.
fn hex_str<'a>(digest: &Digest, buf: &'a mut [u8; 64]) -> &'a str {
    // Hex digits are ASCII, so the conversion cannot fail.
    match hex::encode_to_slice(digest, buf) {
        Ok(()) => std::str::from_utf8(buf).unwrap_or_default(),
        Err(_) => "",
    }
}

/// Parses `--chmod`: octal or symbolic (`u+x,g-w`).
pub fn parse_chmod(value: &str) -> Option<Chmod> {
    Chmod::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_a_digest() {
        let mut d = [0u8; 32];
        d[0] = 0xab;
        d[31] = 0x01;
        let mut buf = [0u8; 64];
        let h = hex_str(&d, &mut buf);
        assert_eq!(h, hex::encode(d));
    }
}
