//! `media_type::detect` against Docker v2 and OCI documents as registries and tools write them.

use rbuild_oci::media_type::{self, detect, Kind, MediaTypeError};

const DIGEST: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";

/// A Docker v2 schema 2 manifest, as `docker push` writes it.
fn docker_manifest() -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7023,"digest":"{DIGEST}"}},"layers":[{{"mediaType":"{}","size":32654,"digest":"{DIGEST}"}}]}}"#,
        media_type::DOCKER_MANIFEST,
        media_type::DOCKER_CONFIG,
        media_type::DOCKER_LAYER_GZIP
    )
}

/// A Docker manifest list.
fn docker_list() -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":7143,"digest":"{DIGEST}","platform":{{"architecture":"ppc64le","os":"linux"}}}}]}}"#,
        media_type::DOCKER_MANIFEST_LIST,
        media_type::DOCKER_MANIFEST
    )
}

/// An OCI manifest; early OCI tools (and the spec's examples before 1.1) omit `mediaType`.
fn oci_manifest(with_type: bool) -> String {
    let own = if with_type {
        format!(r#""mediaType":"{}","#, media_type::OCI_MANIFEST)
    } else {
        String::new()
    };
    format!(
        r#"{{"schemaVersion":2,{own}"config":{{"mediaType":"{}","digest":"{DIGEST}","size":7023}},"layers":[],"annotations":{{"a":"b"}}}}"#,
        media_type::OCI_CONFIG
    )
}

fn oci_index(with_type: bool) -> String {
    let own = if with_type {
        format!(r#""mediaType":"{}","#, media_type::OCI_INDEX)
    } else {
        String::new()
    };
    format!(
        r#"{{"schemaVersion":2,{own}"manifests":[{{"mediaType":"{}","digest":"{DIGEST}","size":7143}}]}}"#,
        media_type::OCI_MANIFEST
    )
}

/// An image config: it has a `config` field too, which must not make it a manifest.
const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;

fn kind_and_type(declared: Option<&str>, doc: &str) -> (Kind, String) {
    let d = detect(declared, doc.as_bytes()).unwrap();
    (d.kind, d.media_type)
}

#[test]
fn docker_v2_documents_carry_their_own_type() {
    let m = kind_and_type(None, &docker_manifest());
    assert_eq!(m, (Kind::Manifest, media_type::DOCKER_MANIFEST.into()));
    let l = kind_and_type(Some(""), &docker_list());
    assert_eq!(l, (Kind::Index, media_type::DOCKER_MANIFEST_LIST.into()));
    let declared = Some(media_type::DOCKER_MANIFEST);
    assert_eq!(
        kind_and_type(declared, &docker_manifest()).0,
        Kind::Manifest
    );
}

#[test]
fn oci_documents_without_a_type_are_known_by_their_shape() {
    for with_type in [true, false] {
        let m = kind_and_type(None, &oci_manifest(with_type));
        assert_eq!(m, (Kind::Manifest, media_type::OCI_MANIFEST.into()));
        let i = kind_and_type(None, &oci_index(with_type));
        assert_eq!(i, (Kind::Index, media_type::OCI_INDEX.into()));
    }
    assert_eq!(
        kind_and_type(None, CONFIG),
        (Kind::Config, media_type::OCI_CONFIG.into())
    );
    let docker_config = kind_and_type(Some(media_type::DOCKER_CONFIG), CONFIG);
    assert_eq!(docker_config.0, Kind::Config);
}

#[test]
fn the_declared_type_wins_over_the_shape_and_must_agree_with_the_document() {
    // A declared type is used for a document that says nothing (parsing it comes later).
    let (kind, mt) = kind_and_type(Some(media_type::DOCKER_MANIFEST), "{}");
    assert_eq!(
        (kind, mt.as_str()),
        (Kind::Manifest, media_type::DOCKER_MANIFEST)
    );
    let odd = kind_and_type(Some("application/x-something"), &oci_manifest(false));
    assert_eq!(odd, (Kind::Other, "application/x-something".into()));
    let err = detect(Some(media_type::OCI_INDEX), oci_manifest(true).as_bytes()).unwrap_err();
    assert!(matches!(err, MediaTypeError::Contradicts { .. }), "{err}");
    assert!(err.to_string().contains(media_type::OCI_MANIFEST), "{err}");
}

#[test]
fn a_document_shaped_as_both_manifest_and_index_is_refused() {
    let both = r#"{"schemaVersion":2,"manifests":[],"layers":[]}"#;
    let err = detect(None, both.as_bytes()).unwrap_err();
    assert!(matches!(err, MediaTypeError::WrongShape { .. }), "{err}");
    let listing = oci_index(false);
    let err = detect(Some(media_type::OCI_MANIFEST), listing.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            MediaTypeError::WrongShape {
                field: "manifests",
                ..
            }
        ),
        "{err}"
    );
    let layered = oci_manifest(false);
    let err = detect(Some(media_type::DOCKER_MANIFEST_LIST), layered.as_bytes()).unwrap_err();
    assert!(matches!(
        err,
        MediaTypeError::WrongShape {
            field: "layers",
            ..
        }
    ));
}

#[test]
fn schema_1_unknown_and_malformed_documents() {
    let schema1 = r#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[{"blobSum":"sha256:a"}]}"#;
    assert_eq!(kind_and_type(None, schema1), (Kind::Other, String::new()));
    let signed = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
    assert_eq!(kind_and_type(None, signed).0, Kind::Other);
    for bad in ["not json", "", "[1]", r#"{"mediaType":7}"#] {
        let err = detect(Some(media_type::OCI_MANIFEST), bad.as_bytes()).unwrap_err();
        assert!(matches!(err, MediaTypeError::NotJson(_)), "{bad:?}: {err}");
    }
}

#[test]
fn kinds_of_media_types() {
    assert_eq!(media_type::kind(media_type::OCI_MANIFEST), Kind::Manifest);
    assert_eq!(
        media_type::kind(media_type::DOCKER_MANIFEST_LIST),
        Kind::Index
    );
    assert_eq!(media_type::kind(media_type::DOCKER_CONFIG), Kind::Config);
    assert_eq!(media_type::kind(media_type::OCI_LAYER_GZIP), Kind::Other);
}
