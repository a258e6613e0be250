//! Real-world Dockerfiles that use `RUN --mount` (testdata/real-world/: the root Dockerfiles of
//! moby/buildkit, docker/buildx, docker/compose, docker/cli, moby/moby and uv's Docker
//! examples) get past parsing and planning: every stage the default target needs lowers into
//! a plan, with each mount placed. Base images are stand-ins (nothing is pulled): an image's
//! name decides its digest, its config is a plain Linux one. The same stand-ins serve the
//! test of a plan's image chain (what a `mode=min` cache export holds).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbuild_build::plan::OpKind;
use rbuild_build::resolve::{BaseImage, BaseResolver};
use rbuild_build::{BuildError, BuildRequest, DockerfileSource};
use rbuild_oci::{Descriptor, Digest, ImageConfig, Platform};
use rbuild_store::Store;

/// Any reference resolves to an empty image named after it.
struct StandIn;

impl BaseResolver for StandIn {
    fn resolve(
        &self,
        _store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        let mut image = BaseImage::scratch(platform);
        image.name = reference.to_string();
        image.config = ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            ..ImageConfig::default()
        };
        let digest = Digest::of(reference.as_bytes());
        image.manifest = Some(Descriptor::new(
            rbuild_oci::media_type::OCI_MANIFEST,
            digest,
            1,
        ));
        Ok(Some(image))
    }
}

fn dockerfiles() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real-world");
    let mut out = Vec::new();
    for project in std::fs::read_dir(&root).unwrap() {
        let dir = project.unwrap().path();
        for f in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name == "Dockerfile" || name.ends_with(".Dockerfile") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn real_world_dockerfiles_with_mounts_plan() {
    let files = dockerfiles();
    assert!(files.len() >= 8, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("store")).unwrap());
    let mut mounts = 0;
    for file in &files {
        let mut req = BuildRequest::new(file.parent().unwrap().to_path_buf());
        req.dockerfile = DockerfileSource::Path(file.clone());
        req.platforms = vec![rbuild_oci::platform::parse("linux/amd64").unwrap()];
        let (plan, _contexts) = rbuild_build::make_plan(&req, &store, &StandIn)
            .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        for v in &plan.vertices {
            if let OpKind::Run(r) = &v.op {
                for m in &r.mounts {
                    if let Some(t) = m.target() {
                        assert!(
                            t.starts_with('/'),
                            "{}: relative target {m:?}",
                            file.display()
                        );
                    }
                    mounts += 1;
                }
            }
        }
    }
    assert!(mounts > 20, "only {mounts} mounts planned");
}

/// The steps whose layers a `mode=min` cache export holds (and sends while the build runs):
/// the target and its parent-filesystem chain down to the base, through `FROM <stage>`, but
/// not a stage the target only copies from.
#[test]
fn the_image_chain_follows_parent_filesystems_only() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&tmp.path().join("store")).unwrap());
    let mut req = BuildRequest::new(tmp.path().to_path_buf());
    req.dockerfile = DockerfileSource::Text(
        "FROM alpine AS builder\nRUN echo built > /b\n\
         FROM alpine AS base\nRUN echo base > /base\n\
         FROM base\nCOPY --from=builder /b /b\nRUN cat /b\n"
            .to_string(),
    );
    req.platforms = vec![rbuild_oci::platform::parse("linux/amd64").unwrap()];
    let (plan, _contexts) = rbuild_build::make_plan(&req, &store, &StandIn).unwrap();
    let chain = plan.image_chain();
    let instruction = |identity: &str| {
        let v = plan
            .vertices
            .iter()
            .find(|v| v.step.identity == identity)
            .unwrap();
        v.step.location.instruction.clone()
    };
    let steps: Vec<String> = chain.iter().map(|i| instruction(i)).collect();
    for want in [
        "RUN cat /b",
        "COPY --from=builder /b /b",
        "RUN echo base > /base",
    ] {
        assert!(steps.iter().any(|s| s == want), "{want} not in {steps:?}");
    }
    assert!(!steps.iter().any(|s| s.contains("built")), "{steps:?}");
}
