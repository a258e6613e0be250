use super::*;

fn one(spec: &str) -> Annotation {
    let mut all = Annotation::parse(spec).unwrap();
    assert_eq!(all.len(), 1, "{spec}");
    all.remove(0)
}

fn arm64() -> Platform {
    rbuild_oci::platform::parse("linux/arm64").unwrap()
}

#[test]
fn a_key_without_type_goes_to_the_manifest() {
    let a = one("org.opencontainers.image.source=https://example.com/x=y");
    assert_eq!(a.target, AnnotationTarget::Manifest);
    assert_eq!(a.key, "org.opencontainers.image.source");
    assert_eq!(a.value, "https://example.com/x=y");
}

#[test]
fn types_platforms_and_keys_with_colons() {
    let a = one("index-descriptor:k=v");
    assert_eq!(a.target, AnnotationTarget::IndexDescriptor);
    let a = one("manifest[linux/aarch64]:com.example:k=v");
    assert_eq!(a.target, AnnotationTarget::Manifest);
    assert_eq!(a.platform, Some(arm64()));
    assert_eq!(a.key, "com.example:k");
    let many = Annotation::parse("index,manifest-descriptor:k=").unwrap();
    let targets: Vec<_> = many.iter().map(|a| a.target).collect();
    assert_eq!(
        targets,
        [
            AnnotationTarget::Index,
            AnnotationTarget::ManifestDescriptor
        ]
    );
    assert_eq!(many[1].value, "");
}

#[test]
fn malformed_values_are_refused_with_the_reason() {
    for (spec, want) in [
        ("novalue", "expected"),
        ("=v", "expected"),
        ("manifest:=v", "expected"),
        ("label:k=v", "unknown annotation type \"label\""),
        ("index[linux/amd64]:k=v", "a platform selects only"),
        ("manifest[linux]:k=v", "a platform selects only"),
        ("manifest[linux/amd64:k=v", "expected"),
    ] {
        let e = Annotation::parse(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{spec}: {e}");
    }
}

#[test]
fn for_target_filters_by_target_and_platform() {
    let all: Vec<Annotation> = ["a=1", "manifest[linux/arm64]:b=2", "index:c=3"]
        .iter()
        .flat_map(|s| Annotation::parse(s).unwrap())
        .collect();
    let set = Annotations(&all);
    let amd64 = rbuild_oci::platform::parse("linux/amd64").unwrap();
    let m = set
        .for_target(AnnotationTarget::Manifest, Some(&amd64))
        .unwrap();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
    let m = set
        .for_target(AnnotationTarget::Manifest, Some(&arm64()))
        .unwrap();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert!(set
        .for_target(AnnotationTarget::ManifestDescriptor, None)
        .is_none());
    assert_eq!(
        set.for_target(AnnotationTarget::Index, None).unwrap()["c"],
        "3"
    );
}

#[test]
fn index_annotations_need_an_index_as_buildkit_says() {
    let all = Annotation::parse("index-descriptor:k=v").unwrap();
    let e = Annotations(&all).check(1).unwrap_err().to_string();
    assert!(e.contains("need a multi-platform build"), "{e}");
    assert!(Annotations(&all).check(2).is_ok());
    let manifest_only = Annotation::parse("k=v").unwrap();
    assert!(Annotations(&manifest_only).check(1).is_ok());
}
