//! Named contexts (`--build-context NAME=VALUE`) used as a stage base: an image from the store
//! or a registry, an image from an OCI layout directory, or a local directory.

use rbuild_context::ignore::Matcher;
use rbuild_oci::Platform;

use super::base::{from_image, resolve_image};
use super::fs::push_fs;
use super::state::StageState;
use super::Shared;
use crate::ocilayout::{self, OciLayoutRef};
use crate::plan::{CopyFrom, CopyOp, CopySource, OpKind, StepMeta};
use crate::resolve::BaseImage;
use crate::{BuildError, NamedContext};

/// The image a named context stands for (scratch for a local directory), for `platform`.
pub(super) fn named_image(
    shared: &mut Shared,
    name: &str,
    named: &NamedContext,
    platform: &Platform,
    line: usize,
) -> Result<BaseImage, BuildError> {
    match named {
        NamedContext::Image(r) => resolve_image(shared, r, platform, line),
        NamedContext::Local(_) => Ok(super::base::empty_image(platform)),
        NamedContext::OciLayout(r) => oci_image(shared, name, r, platform, line),
    }
}

/// Imports the layout's image into the store (once per build: every use of the context sees
/// the same image even if the directory changes meanwhile).
fn oci_image(
    shared: &mut Shared,
    name: &str,
    r: &OciLayoutRef,
    platform: &Platform,
    line: usize,
) -> Result<BaseImage, BuildError> {
    let key = format!("{r}|{}", platform.to_spec());
    if let Some(image) = shared.oci_images.get(&key) {
        return Ok(image.clone());
    }
    let store = shared.input.store;
    let desc = ocilayout::import(store, r, platform).map_err(|error| BuildError::OciLayout {
        line,
        name: name.to_string(),
        reference: r.to_string(),
        error: Box::new(error),
    })?;
    let image = BaseImage::load(store, &r.to_string(), &desc)?;
    shared.oci_images.insert(key, image.clone());
    Ok(image)
}

/// `FROM name` where `name` is a `--build-context`: an image (from the store, a registry or an
/// OCI layout), or a local directory copied onto scratch as the stage's first layer (named
/// contexts override stages).
pub(crate) fn named_base(
    shared: &mut Shared,
    mut st: StageState,
    (name, named): (&str, NamedContext),
    step: StepMeta,
    line: usize,
) -> Result<StageState, BuildError> {
    let platform = st.out.platform.clone();
    let image = named_image(shared, name, &named, &platform, line)?;
    st.out = from_image(shared, &mut st, image, step);
    let NamedContext::Local(dir) = named else {
        return Ok(st);
    };
    let text = format!("COPY {} /", dir.display());
    let step = shared.uncounted_step(&st, line, &text);
    let op = CopyOp {
        sources: vec![CopySource::Path(".".into())],
        dest: "/".into(),
        dest_is_dir: true,
        chown: None,
        chmod: None,
        from: CopyFrom::Dir(dir),
        parents: false,
        excludes: Vec::new(),
        exclude_matcher: Matcher::default(),
        add: None,
    };
    let v = shared.add(OpKind::Copy(op), vec![st.out.vertex], &st.name, step);
    push_fs(&mut st, v, format!("{text} # rbuild"));
    Ok(st)
}
