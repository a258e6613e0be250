//! Parsing `oci-layout://` values (the layout reader's own tests are in rbuild-store).

use std::path::PathBuf;

use rbuild_oci::Digest;

use super::{OciLayoutRef, OciLayoutRefError};

#[test]
fn parses_path_tag_and_digest_as_buildx_does() {
    let d = Digest::of(b"m");
    let p = |s: &str| OciLayoutRef::parse(s);
    let r = p("/a/b").unwrap();
    assert_eq!(
        (r.path, r.tag, r.digest),
        (PathBuf::from("/a/b"), None, None)
    );
    let r = p(&format!("rel/dir:v1.2@{d}")).unwrap();
    assert_eq!(r.path, PathBuf::from("rel/dir"));
    assert_eq!(
        (r.tag.as_deref(), r.digest.as_ref()),
        (Some("v1.2"), Some(&d))
    );
    let sel = r.selector();
    assert_eq!(
        (sel.tag.as_deref(), sel.digest),
        (Some("v1.2"), Some(d.clone()))
    );
    let r = p(&format!("/x@{d}")).unwrap();
    assert_eq!((r.tag, r.digest), (None, Some(d.clone())));
    assert_eq!(p("/a:b/c").unwrap().path, PathBuf::from("/a:b/c"));
    assert_eq!(p("/a/me@home").unwrap().path, PathBuf::from("/a/me@home"));
    assert_eq!(
        p(&format!("/l:t@{d}")).unwrap().to_string(),
        format!("oci-layout:///l:t@{d}")
    );
}

#[test]
fn bad_values_say_what_is_wrong() {
    for empty in ["", ":v1"] {
        let err = OciLayoutRef::parse(empty).unwrap_err();
        assert!(matches!(err, OciLayoutRefError::EmptyPath { .. }), "{err}");
    }
    for bad in ["/l@sha256:abc", "/l@md5:abc"] {
        let err = OciLayoutRef::parse(bad).unwrap_err();
        assert!(matches!(err, OciLayoutRefError::Digest { .. }), "{err}");
        let digest = bad.split_once('@').unwrap().1;
        assert!(err.to_string().contains(digest), "{err}");
    }
}
