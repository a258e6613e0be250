//! The COPY/ADD cache key: the op's options, each source's identity, and the digest of
//! every selected context entry (computed ahead when possible, see [`CopyStep::prefetch`]).

use rayon::prelude::*;
use rbuild_context::chmod::Chmod;
use rbuild_context::git;
use rbuild_context::hashcache::{Digest, Prepared};
use rbuild_context::remote;
use rbuild_context::select::plan_map;
use rbuild_context::tree::Tree;
use rbuild_solver::{CacheKey, Components, KeyBuilder, KeyPart};

use super::{ContextContent, CopyStep};
use crate::plan::CopySource;
use crate::BuildError;

/// Entries per chunk of [`ContextContent`].
const KEY_CHUNK: usize = 2048;

/// What a key component shows for a remote source when `debug plan` does not fetch it.
const NOT_FETCHED: &str = "(fetched when the build runs)";

impl CopyStep<'_> {
    /// The key: parent, the op, and a digest of each selected context entry, URL or commit.
    pub fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), BuildError> {
        // 3: --chown owns the directories the step creates, and archive entries (ADD).
        // 4: BuildKit's semantics of issue 19 (parents take --chmod, stages' owners kept,
        // destinations and archives through the image's links): older results differ.
        let mut kb = KeyBuilder::new("copy", 4);
        if let Some(parent) = inputs.first() {
            kb = kb.key("parent", parent);
        }
        kb = self.option_components(kb);
        for s in &self.op.sources {
            kb = self.source_component(kb, s)?;
        }
        if self.reads_input() {
            if let Some(src) = inputs.get(1) {
                kb = kb.key("from", src);
            }
        } else if !self.op.paths().is_empty() {
            let content = self.prefetched.take_or(|| self.context_content())?;
            kb = kb.parts(content);
        }
        Ok(kb.finish())
    }

    /// The flags and destination, which change the result whatever the sources hold.
    fn option_components(&self, kb: KeyBuilder) -> KeyBuilder {
        let op = self.op;
        let kb = kb
            .list("sources", &op.paths())
            .str("dest", &op.dest)
            .str("dest_is_dir", if op.dest_is_dir { "1" } else { "0" })
            .opt_str("chown", op.chown.as_deref())
            .opt_str("chmod", op.chmod.as_ref().map(Chmod::key).as_deref())
            .str("parents", if op.parents { "1" } else { "0" })
            .list("exclude", &op.excludes);
        match &op.add {
            Some(add) => {
                let kb = kb
                    .str("add", if add.unpack { "unpack" } else { "no-unpack" })
                    .str("keep_git_dir", if add.keep_git_dir { "1" } else { "0" });
                // Only when set, so that other ADDs keep their keys.
                if add.unpack_urls {
                    kb.str("unpack_urls", "1")
                } else {
                    kb
                }
            }
            None => kb,
        }
    }

    /// What a non-path source contributes: a heredoc's text, an URL's digest, a git commit.
    /// Paths are keyed by their content afterwards, all together.
    fn source_component(&self, kb: KeyBuilder, s: &CopySource) -> Result<KeyBuilder, BuildError> {
        Ok(match s {
            CopySource::Inline { name, content } => kb.str(&format!("heredoc:{name}"), content),
            CopySource::Url(url) => kb.str(&format!("url:{url}"), &self.url_digest(url)?),
            CopySource::Git(g) => {
                let g = &self.git_source(g)?;
                let name = g.identity();
                if self.rt.plan_only {
                    return Ok(kb.str(&name, NOT_FETCHED));
                }
                let commit = self.with_git_transport(g, |t| git::resolve_commit(g, t))?;
                kb.str(&name, &commit)
            }
            CopySource::Path(_) => kb,
        })
    }

    /// Walks and digests the local sources now, so that [`cache_key`](Self::cache_key) finds
    /// them ready; does nothing for other sources or if the key was already computed.
    pub fn prefetch(&self) {
        if !self.reads_input() && !self.op.paths().is_empty() {
            self.prefetched.run_ahead(|| self.context_content());
        }
    }

    /// The key components of the selected context entries. The entries walked are kept for
    /// `exec` (a miss copies exactly what was hashed, without a second walk).
    fn context_content(&self) -> Result<ContextContent, BuildError> {
        let Some(ctx) = &self.ctx else {
            return Ok(Vec::new());
        };
        let tree = Tree::new(vec![ctx.dir.clone()]);
        // Each entry is reduced as it is walked, not kept for the copy: keeping 20,000 of
        // them made a no-op rebuild of a large context a quarter slower (their memory), and
        // a miss walks again for much less than the copy costs.
        let prepared: Vec<Prepared> = plan_map(
            &tree,
            &self.op.paths(),
            &self.op.dest,
            true,
            &**ctx,
            self.plan_options(),
            &Prepared::of,
        )
        .map_err(|e| self.meta.error(e))?;
        let digests = ctx
            .hashes
            .digests(&prepared)
            .map_err(|(rel, e)| self.meta.error(format!("{rel}: {e}")))?;
        Ok(file_components(&prepared, &digests))
    }

    /// With `--checksum` the key needs no download; otherwise the content decides.
    fn url_digest(&self, url: &str) -> Result<String, BuildError> {
        if let Some(c) = self.op.add.as_ref().and_then(|a| a.checksum.as_deref()) {
            return remote::parse_checksum(c).map_err(|e| self.meta.error(e));
        }
        if self.rt.plan_only {
            return Ok(NOT_FETCHED.to_string());
        }
        Ok(self.download(url)?.digest)
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
