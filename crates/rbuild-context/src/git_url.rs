//! Git source URLs as BuildKit reads them (`frontend/dockerfile/dfgitutil/git_ref.go`): the
//! `#ref:subdir` fragment and the query options `ref`, `tag`, `branch`, `commit`/`checksum`,
//! `subdir`, `keep-git-dir`, `submodules`, `mtime` and `fetch-by-commit`, with BuildKit's
//! conflict and value errors.

/// When the checked-out files are dated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MTime {
    /// The time of the checkout (BuildKit's default).
    #[default]
    Checkout,
    /// The commit's committer time (`?mtime=commit`).
    Commit,
}

/// A parsed git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The remote as git takes it (no fragment, no query).
    pub url: String,
    /// Branch, tag, `refs/...` name or commit (`None`: the remote's default branch).
    pub reference: Option<String>,
    /// Subdirectory to copy (`None`: the whole tree).
    pub subdir: Option<String>,
    /// A prefix of the commit (`?commit=`, `?checksum=`, `ADD --checksum`) the reference must name.
    pub checksum: Option<String>,
    /// `?keep-git-dir`: `None` when the URL does not say.
    pub keep_git_dir: Option<bool>,
    /// Whether submodules are checked out (`?submodules=false` turns it off).
    pub submodules: bool,
    /// `?mtime=`.
    pub mtime: MTime,
    /// `?fetch-by-commit`: fetch the `checksum` commit itself, without asking for the reference.
    pub fetch_by_commit: bool,
}

/// Why a git URL's options are refused; the texts are BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GitUrlError(pub String);

/// Recognises a git source the way BuildKit does: `git@`, `git://`, `ssh://`, `github.com/`,
/// or an http(s) URL whose path ends in `.git`; `None` for anything else, an error for a git
/// URL whose options are invalid.
pub fn parse(word: &str) -> Result<Option<GitSource>, GitUrlError> {
    let (rest, fragment) = match word.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (word, None),
    };
    let (url, query) = match rest.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (rest, None),
    };
    let is_git = url.starts_with("git@")
        || url.starts_with("git://")
        || url.starts_with("ssh://")
        || url.starts_with("github.com/")
        || ((url.starts_with("http://") || url.starts_with("https://"))
            && url.trim_end_matches('/').ends_with(".git"));
    if !is_git {
        return Ok(None);
    }
    let url = if url.starts_with("github.com/") {
        format!("https://{url}")
    } else {
        url.to_string()
    };
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (f, None),
        },
        None => ("", None),
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut src = GitSource {
        url,
        reference: nonempty(reference),
        subdir: subdir.and_then(|s| nonempty(s.trim_matches('/'))),
        checksum: None,
        keep_git_dir: None,
        submodules: true,
        mtime: MTime::Checkout,
        fetch_by_commit: false,
    };
    if let Some(q) = query {
        src.apply_query(&query_pairs(q)?)?;
    }
    Ok(Some(src))
}

/// The query's `key=value` pairs, percent-decoded; a key given twice is refused.
fn query_pairs(query: &str) -> Result<Vec<(String, Option<String>)>, GitUrlError> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (unescape(k), Some(unescape(v))),
            None => (unescape(part), None),
        };
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(err(format!("query {k:?} has multiple values")));
        }
        pairs.push((k, v.filter(|v| !v.is_empty())));
    }
    Ok(pairs)
}

/// `%XX` and `+` decoded, as Go's `url.ParseQuery` does; a malformed escape stays as written.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn err(msg: String) -> GitUrlError {
    GitUrlError(msg)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, v: &str) -> Result<bool, GitUrlError> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(err(format!("invalid {key} value: {v:?}"))),
    }
}

impl GitSource {
    fn apply_query(&mut self, pairs: &[(String, Option<String>)]) -> Result<(), GitUrlError> {
        let (mut tag, mut branch) = (None, None);
        for (k, v) in pairs {
            let flag = |k: &str| v.as_deref().map_or(Ok(true), |v| parse_bool(k, v));
            let Some(value) = v.clone() else {
                match k.as_str() {
                    "submodules" => self.submodules = true,
                    "keep-git-dir" => self.keep_git_dir = Some(true),
                    "fetch-by-commit" => self.fetch_by_commit = true,
                    _ => return Err(err(format!("query {k:?} has no value"))),
                }
                continue;
            };
            match k.as_str() {
                "ref" => self.set_ref(value)?,
                "tag" => tag = Some(value),
                "branch" => branch = Some(value),
                "subdir" => {
                    if let Some(s) = self.subdir.as_ref().filter(|s| **s != value) {
                        return Err(err(format!("subdir conflicts: {s:?} vs {value:?}")));
                    }
                    self.subdir =
                        Some(value.trim_matches('/').to_string()).filter(|s| !s.is_empty());
                }
                "checksum" | "commit" => self.checksum = Some(value),
                "keep-git-dir" => self.keep_git_dir = Some(flag(k)?),
                "submodules" => self.submodules = flag(k)?,
                "fetch-by-commit" => self.fetch_by_commit = flag(k)?,
                "mtime" => {
                    self.mtime = match value.as_str() {
                        "checkout" => MTime::Checkout,
                        "commit" => MTime::Commit,
                        _ => {
                            return Err(err(format!(
                            "invalid mtime value: {value:?} (must be \"checkout\" or \"commit\")"
                        )))
                        }
                    }
                }
                _ => return Err(err(format!("unexpected query {k:?}"))),
            }
        }
        if let Some(t) = &tag {
            self.set_ref(prefixed("refs/tags/", t.clone()))?;
        }
        if let Some(b) = branch {
            if tag.is_some() {
                return Err(err("branch conflicts with tag".to_string()));
            }
            self.set_ref(prefixed("refs/heads/", b))?;
        }
        Ok(())
    }

    /// The reference, unless the URL already names another (`ref conflicts`).
    fn set_ref(&mut self, r: String) -> Result<(), GitUrlError> {
        if let Some(old) = self.reference.as_ref().filter(|old| **old != r) {
            return Err(err(format!("ref conflicts: {old:?} vs {r:?}")));
        }
        self.reference = Some(r);
        Ok(())
    }

    /// A stable text naming what selects the files besides the commit (for cache keys). Not
    /// the checksum: it only checks the commit, so adding it keeps the cache (BuildKit's
    /// testAddGitChecksumCache).
    pub fn identity(&self) -> String {
        format!(
            "git:{}#{:?}:{:?} keep-git-dir={:?} submodules={} mtime={:?}",
            self.url, self.reference, self.subdir, self.keep_git_dir, self.submodules, self.mtime
        )
    }
}

fn prefixed(prefix: &str, name: String) -> String {
    if name.starts_with(prefix) {
        name
    } else {
        format!("{prefix}{name}")
    }
}

#[cfg(test)]
#[path = "git_url_tests.rs"]
mod tests;
