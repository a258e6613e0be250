//! Save/load round trips, verification, and interoperability with skopeo.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::{layer_tar, put_image, store};
use rbuild_oci::{media_type, Descriptor, Digest, ImageConfig, Manifest, RootFs};
use rbuild_store::Store;

fn export_oci(store: &Store, refs: &[(String, Descriptor)]) -> Vec<u8> {
    let mut out = Vec::new();
    store.export_oci_archive(refs, &mut out).unwrap();
    out
}

fn export_docker(store: &Store, refs: &[(String, Descriptor)]) -> Vec<u8> {
    let mut out = Vec::new();
    store.export_docker_archive(refs, &mut out).unwrap();
    out
}

fn member_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn oci_archive_round_trips() {
    let (_d, src) = store();
    let img = put_image(&src, &["a", "b"]);
    let refs = vec![
        ("app:1.0".to_string(), img.clone()),
        ("app:latest".into(), img.clone()),
    ];
    let tar = export_oci(&src, &refs);
    let names = member_names(&tar);
    assert!(names.contains(&"oci-layout".to_string()));
    assert!(names.contains(&"index.json".to_string()));
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 20)
            .count(),
        4
    );

    let (_d2, dst) = store();
    let images = dst.import_archive(&mut tar.as_slice()).unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0], ("app:1.0".to_string(), img.clone()));
    assert_eq!(
        dst.resolve_tag("app:latest").unwrap().unwrap().digest,
        img.digest
    );
    assert!(dst.check().unwrap().is_ok());
    assert_eq!(dst.image_size(&img), src.image_size(&img));
}

#[test]
fn docker_archive_round_trips_to_the_same_manifest() {
    let (_d, src) = store();
    let img = put_image(&src, &["x", "y", "z"]);
    let tar = export_docker(&src, &[("app".to_string(), img.clone())]);
    let (_d2, dst) = store();
    let images = dst.import_archive(&mut tar.as_slice()).unwrap();
    // `app` is written as Docker's familiar `app:latest`.
    assert_eq!(images, vec![("app:latest".to_string(), img.clone())]);
    assert!(dst.check().unwrap().is_ok());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A docker-archive in the legacy layout (`<hex>.json`, `<id>/layer.tar`) with two gzip
/// layers, the second a symlink to the first (old `docker save` deduplicates that way).
fn legacy_archive(diff_ids: Vec<Digest>) -> Vec<u8> {
    let gz = gzip(&layer_tar("hello.txt", b"hello"));
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..Default::default()
    };
    let cjson = rbuild_oci::to_canonical_json(&config);
    let chex = Digest::of(&cjson).hex().to_string();
    let manifest = format!(
        r#"[{{"Config":"{chex}.json","RepoTags":["legacy:2"],"Layers":["abc/layer.tar","def/layer.tar"]}}]"#
    );
    let mut b = tar::Builder::new(Vec::new());
    let files = [
        (format!("{chex}.json"), cjson.as_slice()),
        ("abc/layer.tar".into(), gz.as_slice()),
        ("manifest.json".into(), manifest.as_bytes()),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "def/layer.tar", "../abc/layer.tar")
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn legacy_docker_archive_with_gzip_layers_and_symlinks_loads() {
    let diff = Digest::of(&layer_tar("hello.txt", b"hello"));
    let tar = legacy_archive(vec![diff.clone(), diff]);
    let (_d, dst) = store();
    let images = dst.import_archive(&mut tar.as_slice()).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].0, "legacy:2");
    let m: Manifest = serde_json::from_slice(&dst.read_blob(&images[0].1.digest).unwrap()).unwrap();
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.layers[0].media_type, media_type::OCI_LAYER_GZIP);
    assert!(dst.check().unwrap().is_ok());
}

#[test]
fn docker_archive_with_a_wrong_diff_id_is_rejected() {
    let wrong = Digest::of(b"not the layer");
    let tar = legacy_archive(vec![wrong.clone(), wrong]);
    let (_d, dst) = store();
    let err = dst.import_archive(&mut tar.as_slice()).unwrap_err();
    assert!(err.to_string().contains("diff id"), "{err}");
    assert!(dst.tags().unwrap().is_empty());
}

#[test]
fn tampered_oci_blob_is_rejected_and_nothing_is_tagged() {
    let (_d, src) = store();
    let img = put_image(&src, &["payload-to-tamper"]);
    let mut tar = export_oci(&src, &[("app:1".into(), img)]);
    let pos = tar
        .windows(b"payload-to-tamper".len())
        .rposition(|w| w == b"payload-to-tamper")
        .unwrap();
    tar[pos] = b'P';
    let (_d2, dst) = store();
    let err = dst.import_archive(&mut tar.as_slice()).unwrap_err();
    assert!(common::chain(&err).contains("digest mismatch"), "{err}");
    assert!(dst.tags().unwrap().is_empty());
}

#[test]
fn export_refuses_a_missing_blob() {
    let (_d, src) = store();
    let img = put_image(&src, &["a"]);
    let layer = common::layers_of(&src, &img)[0].clone();
    std::fs::remove_file(src.blob_path(&layer)).unwrap();
    let mut out = Vec::new();
    assert!(src
        .export_oci_archive(&[("a:1".into(), img.clone())], &mut out)
        .is_err());
    assert!(src
        .export_docker_archive(&[("a:1".into(), img)], &mut out)
        .is_err());
}

fn skopeo() -> &'static str {
    let path = "/usr/bin/skopeo";
    assert!(
        Path::new(path).exists(),
        "skopeo is required for this test and missing at {path}"
    );
    path
}

fn skopeo_inspect(target: &str) -> serde_json::Value {
    let out = Command::new(skopeo())
        .args(["inspect", "--raw", target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn skopeo_reads_the_store_and_the_exports() {
    let (dir, store) = store();
    let img = put_image(&store, &["a", "b"]);
    store.set_tag("app:1.0", &img).unwrap();
    let root = store.root().display().to_string();
    let raw = skopeo_inspect(&format!("oci:{root}:app:1.0"));
    assert_eq!(raw["layers"].as_array().unwrap().len(), 2);

    let refs = vec![("app:1.0".to_string(), img.clone())];
    let oci_tar = dir.path().join("img-oci.tar");
    std::fs::write(&oci_tar, export_oci(&store, &refs)).unwrap();
    let raw = skopeo_inspect(&format!("oci-archive:{}:app:1.0", oci_tar.display()));
    assert_eq!(
        raw["config"]["digest"],
        serde_json::json!(common_config(&store, &img))
    );

    let docker_tar = dir.path().join("img-docker.tar");
    std::fs::write(&docker_tar, export_docker(&store, &refs)).unwrap();
    let out = Command::new(skopeo())
        .args([
            "inspect",
            "--config",
            &format!("docker-archive:{}", docker_tar.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo docker-archive: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let layout = dir.path().join("layout");
    store.export_oci_dir(&refs, &layout).unwrap();
    skopeo_inspect(&format!("oci:{}:app:1.0", layout.display()));
}

fn common_config(store: &Store, img: &Descriptor) -> String {
    let m: Manifest = serde_json::from_slice(&store.read_blob(&img.digest).unwrap()).unwrap();
    m.config.digest.to_string()
}
