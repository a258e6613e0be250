//! Choosing the `index.json` entry a reference names (pure).
//!
//! As BuildKit: a digest wins; otherwise the tag (default `latest`) is looked up first in
//! `io.containerd.image.name`, then in `org.opencontainers.image.ref.name`. Unlike BuildKit, a
//! layout's only image stands in for an unfound tag only when no tag was written: an explicit
//! tag that is not there is an error rather than silently another image. As an extension, a
//! full name (`app:1.0`, as rbuild's own export writes) matches by its tag part.

use std::path::Path;

use rbuild_oci::{Descriptor, Digest, Index, Reference};

use super::{LayoutError, Selector};
use crate::REF_NAME;

/// containerd's (and BuildKit's, and Docker 25's) full-name annotation in `index.json`.
pub(crate) const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Where resolution starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// An `index.json` entry (its media type and size are declared there).
    Listed(Descriptor),
    /// A digest the index does not list: any manifest or index blob of the layout.
    Blob(Digest),
}

/// The entry (or blob) `r` names in `index` of the layout at `path`.
pub(super) fn pick(index: &Index, r: &Selector, path: &Path) -> Result<Start, LayoutError> {
    if let Some(d) = &r.digest {
        let listed = index.manifests.iter().find(|m| &m.digest == d);
        return Ok(listed.map_or_else(|| Start::Blob(d.clone()), |m| Start::Listed(m.clone())));
    }
    let tag = r.tag.as_deref().unwrap_or("latest");
    let exact = |key: &str| {
        let entries = index.manifests.iter();
        entries.clone().find(|m| annotation(m, key) == Some(tag))
    };
    if let Some(m) = exact(CONTAINERD_NAME).or_else(|| exact(REF_NAME)) {
        return Ok(Start::Listed(m.clone()));
    }
    if let Some(m) = by_tag_part(index, path, tag)? {
        return Ok(Start::Listed(m.clone()));
    }
    match index.manifests.as_slice() {
        [only] if r.tag.is_none() => Ok(Start::Listed(only.clone())),
        _ => Err(LayoutError::TagNotFound {
            path: path.to_path_buf(),
            tag: tag.to_string(),
            available: names(index),
        }),
    }
}

/// Entries whose full name (`repo:tag`, with a `:` or `/`) has `tag` as its tag.
fn by_tag_part<'a>(
    index: &'a Index,
    path: &Path,
    tag: &str,
) -> Result<Option<&'a Descriptor>, LayoutError> {
    let full = |m: &Descriptor| -> Option<String> {
        let name = annotation(m, CONTAINERD_NAME).or_else(|| annotation(m, REF_NAME))?;
        // A bare ref.name is itself a tag: "1.0" must not read as repository "1.0":latest.
        if !name.contains([':', '/']) {
            return None;
        }
        let parsed = Reference::parse(name).ok()?;
        (parsed.tag.as_deref() == Some(tag)).then(|| name.to_string())
    };
    let hits: Vec<(&Descriptor, String)> = index
        .manifests
        .iter()
        .filter_map(|m| Some((m, full(m)?)))
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [(m, _), rest @ ..] if rest.iter().all(|(o, _)| o.digest == m.digest) => Ok(Some(m)),
        _ => Err(LayoutError::AmbiguousTag {
            path: path.to_path_buf(),
            tag: tag.to_string(),
            names: hits
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn annotation<'a>(m: &'a Descriptor, key: &str) -> Option<&'a str> {
    m.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The names in an index, for error messages.
fn names(index: &Index) -> String {
    let list: Vec<&str> = index
        .manifests
        .iter()
        .filter_map(|m| annotation(m, REF_NAME).or_else(|| annotation(m, CONTAINERD_NAME)))
        .collect();
    if list.is_empty() {
        format!("none; {} untagged image(s)", index.manifests.len())
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_oci::media_type;

    fn entry(n: u8, names: &[(&str, &str)]) -> Descriptor {
        let mut d = Descriptor::new(media_type::OCI_MANIFEST, Digest::of(&[n]), 10);
        if !names.is_empty() {
            d.annotations = Some(
                names
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        d
    }

    fn index(entries: Vec<Descriptor>) -> Index {
        Index {
            manifests: entries,
            ..Index::default()
        }
    }

    /// `value` as `[:TAG][@DIGEST]`, in the layout `/l`.
    fn pick_in(ix: &Index, value: &str) -> Result<Start, LayoutError> {
        let (rest, digest) = match value.split_once('@') {
            Some((r, d)) => (r, Some(d.parse().unwrap())),
            None => (value, None),
        };
        let tag = rest.strip_prefix(':').map(str::to_string);
        pick(ix, &Selector { tag, digest }, Path::new("/l"))
    }

    fn listed(d: &Descriptor) -> Start {
        Start::Listed(d.clone())
    }

    #[test]
    fn tags_match_containerd_name_then_ref_name() {
        let a = entry(1, &[(REF_NAME, "v1")]);
        let b = entry(2, &[(REF_NAME, "latest")]);
        let c = entry(3, &[(CONTAINERD_NAME, "v1")]);
        let ix = index(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(pick_in(&ix, ":v1").unwrap(), listed(&c));
        assert_eq!(pick_in(&ix, "").unwrap(), listed(&b));
        assert_eq!(pick_in(&ix, ":latest").unwrap(), listed(&b));
        let err = pick_in(&ix, ":v2").unwrap_err().to_string();
        assert!(
            err.contains("\"v2\"") && err.contains("/l/index.json"),
            "{err}"
        );
        assert!(err.contains("v1, latest"), "{err}");
    }

    #[test]
    fn full_names_match_by_their_tag_part() {
        let a = entry(1, &[(REF_NAME, "app:1.0")]);
        let b = entry(2, &[(REF_NAME, "1.0")]);
        let c = entry(3, &[(CONTAINERD_NAME, "docker.io/library/web:2")]);
        let ix = index(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(pick_in(&ix, ":2").unwrap(), listed(&c));
        // An exact ref.name wins over a full name's tag part.
        assert_eq!(pick_in(&ix, ":1.0").unwrap(), listed(&b));
        // A bare ref.name is a tag, not a repository with an implied :latest.
        assert!(pick_in(&ix, "").is_err());
        let two = index(vec![a.clone(), entry(4, &[(REF_NAME, "other:1.0")])]);
        let err = pick_in(&two, ":1.0").unwrap_err().to_string();
        assert!(err.contains("app:1.0, other:1.0"), "{err}");
        let same = index(vec![a.clone(), entry(1, &[(REF_NAME, "b:1.0")])]);
        assert_eq!(pick_in(&same, ":1.0").unwrap(), listed(&a));
    }

    #[test]
    fn lone_image_only_without_an_explicit_tag() {
        let a = entry(1, &[]);
        let ix = index(vec![a.clone()]);
        assert_eq!(pick_in(&ix, "").unwrap(), listed(&a));
        let err = pick_in(&ix, ":v1").unwrap_err().to_string();
        assert!(err.contains("untagged"), "{err}");
        let two = index(vec![a.clone(), entry(2, &[])]);
        assert!(matches!(
            pick_in(&two, ""),
            Err(LayoutError::TagNotFound { .. })
        ));
        assert!(pick_in(&index(vec![]), "").is_err());
    }

    #[test]
    fn digests_win_and_may_name_unlisted_blobs() {
        let a = entry(1, &[(REF_NAME, "v1")]);
        let b = entry(2, &[(REF_NAME, "v2")]);
        let ix = index(vec![a.clone(), b.clone()]);
        let at = |d: &Digest| format!(":v1@{d}");
        assert_eq!(pick_in(&ix, &at(&b.digest)).unwrap(), listed(&b));
        let other = Digest::of(b"x");
        assert_eq!(
            pick_in(&ix, &format!("@{other}")).unwrap(),
            Start::Blob(other)
        );
    }
}
