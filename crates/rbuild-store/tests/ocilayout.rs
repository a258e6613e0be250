//! One image out of an OCI layout (`oci-layout://` contexts), from a directory or a tar of
//! it: the same rules and the same errors either way (no root needed).

mod common;

use common::chain;
use common::layout::{amd64, sel, Layout};
use rbuild_oci::{media_type, Descriptor, Index, Platform};
use rbuild_store::{LayoutError, Selector, Store};

/// Both ways in.
#[derive(Clone, Copy, Debug)]
enum Via {
    Dir,
    Tar,
}

fn import(
    store: &Store,
    l: &Layout,
    via: Via,
    s: &Selector,
    p: &Platform,
) -> Result<Descriptor, LayoutError> {
    let reader = match via {
        Via::Dir => store.open_layout_dir(l.path())?,
        Via::Tar => store.read_layout_tar(&mut l.tar().as_slice())?,
    };
    reader.import_image(s, p)
}

#[test]
fn imports_a_tagged_image_into_the_store() {
    for via in [Via::Dir, Via::Tar] {
        let (_t, store) = common::store();
        let mut l = Layout::new();
        let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
        l.tag(m.clone(), "v1");
        let got = import(&store, &l, via, &sel(Some("v1"), None), &amd64()).unwrap();
        assert_eq!((got.digest.clone(), got.size), (m.digest.clone(), m.size));
        assert!(store.has_blob(&m.digest) && store.has_blob(&layer.digest));
        assert_eq!(store.blobs().unwrap().len(), 3, "{via:?}");
        // Again: nothing new, same manifest; and the lone image is the default.
        let again = import(&store, &l, via, &sel(None, None), &amd64()).unwrap();
        assert_eq!(again, got);
        let err = import(&store, &l, via, &sel(Some("v2"), None), &amd64()).unwrap_err();
        assert!(matches!(err, LayoutError::TagNotFound { .. }), "{err}");
    }
}

#[test]
fn picks_the_platform_from_an_index_also_by_unlisted_digest() {
    let (_t, store) = common::store();
    let mut l = Layout::new();
    let (arm, _) = l.image("arm64", media_type::OCI_LAYER_GZIP);
    let (amd, _) = l.image("amd64", media_type::OCI_LAYER_ZSTD);
    let plat = |mut d: Descriptor, arch: &str| {
        d.platform = Some(Platform {
            architecture: arch.into(),
            ..amd64()
        });
        d
    };
    let index = Index {
        manifests: vec![plat(arm, "arm64"), plat(amd.clone(), "amd64")],
        ..Index::default()
    };
    let ix = l.blob(media_type::OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    l.tag(ix.clone(), "multi");
    let multi = sel(Some("multi"), None);
    for via in [Via::Dir, Via::Tar] {
        let got = import(&store, &l, via, &multi, &amd64()).unwrap();
        assert_eq!(got.digest, amd.digest);
        let s390x = Platform {
            architecture: "s390x".into(),
            ..amd64()
        };
        let err = import(&store, &l, via, &multi, &s390x).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("linux/s390x") && text.contains("linux/arm64, linux/amd64"),
            "{text}"
        );
        // By digest, the manifest need not be listed in index.json.
        let by_digest = sel(None, Some(&amd.digest));
        let got = import(&store, &l, via, &by_digest, &amd64()).unwrap();
        assert_eq!(got.digest, amd.digest);
    }
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_enters_the_store() {
    let (_t, store) = common::store();
    let mut l = Layout::new();
    let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m.clone(), "v1");
    std::fs::write(l.blob_file(&layer.digest), b"layer for amd65").unwrap();
    for via in [Via::Dir, Via::Tar] {
        let err = import(&store, &l, via, &sel(Some("v1"), None), &amd64()).unwrap_err();
        let text = chain(&err);
        assert!(
            text.contains("digest mismatch") && text.contains(layer.digest.hex()),
            "{via:?}: {text}"
        );
        assert!(store.blobs().unwrap().is_empty(), "{:?}", store.blobs());
    }
    // A tampered manifest is refused before anything is read through it.
    std::fs::write(l.blob_file(&m.digest), b"{}").unwrap();
    let err = import(&store, &l, Via::Dir, &sel(Some("v1"), None), &amd64()).unwrap_err();
    assert!(matches!(err, LayoutError::Blob { .. }), "{err}");
}

#[test]
fn symlinks_missing_blobs_and_strange_media_types_are_refused() {
    let (_t, store) = common::store();
    let mut l = Layout::new();
    let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m, "v1");
    let file = l.blob_file(&layer.digest);
    let saved = std::fs::read(&file).unwrap();
    let outside = l.path().join("outside");
    std::fs::write(&outside, &saved).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&outside, &file).unwrap();
    let v1 = sel(Some("v1"), None);
    for via in [Via::Dir, Via::Tar] {
        let err = import(&store, &l, via, &v1, &amd64()).unwrap_err();
        assert!(
            matches!(err, LayoutError::NotRegular { .. }),
            "{via:?}: {err}"
        );
    }
    std::fs::remove_file(&file).unwrap();
    for via in [Via::Dir, Via::Tar] {
        let err = import(&store, &l, via, &v1, &amd64()).unwrap_err();
        assert!(
            matches!(err, LayoutError::BlobMissing { .. }),
            "{via:?}: {err}"
        );
    }
    let (odd, _) = l.image("arm64", "application/x-something");
    l.tag(odd, "odd");
    let err = import(&store, &l, Via::Dir, &sel(Some("odd"), None), &amd64()).unwrap_err();
    assert!(err.to_string().contains("application/x-something"), "{err}");
    assert!(store.blobs().unwrap().is_empty());
}

#[test]
fn a_manifest_contradicting_its_declared_type_is_refused() {
    let (_t, store) = common::store();
    let mut l = Layout::new();
    let (mut m, _) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    m.media_type = media_type::OCI_INDEX.into();
    l.tag(m, "v1");
    let err = import(&store, &l, Via::Dir, &sel(None, None), &amd64()).unwrap_err();
    assert!(matches!(err, LayoutError::Detect { .. }), "{err}");
    assert!(chain(&err).contains("its mediaType is"), "{}", chain(&err));
}

#[test]
fn a_directory_that_is_not_a_layout_is_named() {
    let (_t, store) = common::store();
    let l = Layout::new();
    let err = import(&store, &l, Via::Dir, &sel(None, None), &amd64()).unwrap_err();
    assert!(err.to_string().contains("no index.json"), "{err}");
    std::fs::remove_file(l.path().join("oci-layout")).unwrap();
    for via in [Via::Dir, Via::Tar] {
        let err = import(&store, &l, via, &sel(None, None), &amd64()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no oci-layout file"), "{text}");
    }
    let err = import(&store, &l, Via::Dir, &sel(None, None), &amd64()).unwrap_err();
    assert!(
        err.to_string().contains(&l.path().display().to_string()),
        "{err}"
    );
    let err = store.open_layout_dir(&l.path().join("nowhere")).err();
    assert!(matches!(err, Some(LayoutError::OpenDir { .. })), "{err:?}");
    assert!(err
        .unwrap()
        .to_string()
        .contains("is not an OCI image layout"));
}
