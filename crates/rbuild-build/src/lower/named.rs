//! Named contexts (`--build-context NAME=VALUE`) used as a stage base: an image from the store
//! or a registry, an image from an OCI layout directory, or a local directory.

use std::sync::Arc;

use super::fs::push_fs;
use super::stage::{resolve_image, StageState};
use super::Shared;
use rbuild_context::local::LocalContext;
use crate::ocilayout::{self, OciLayoutRef};
use crate::ops::{BuildOp, CopyOp, CopySource};
use crate::resolve::BaseImage;
use crate::{BuildError, NamedContext};

/// The image a named context stands for (scratch for a local directory).
pub(super) fn named_image(
    shared: &mut Shared,
    name: &str,
    named: &NamedContext,
    line: usize,
) -> Result<BaseImage, BuildError> {
    match named {
        NamedContext::Image(r) => resolve_image(shared, r, line),
        NamedContext::Local(_) => Ok(BaseImage::scratch()),
        NamedContext::OciLayout(r) => oci_image(shared, name, r, line),
    }
}

/// Imports the layout's image into the store (once per build: every use of the context sees
/// the same image even if the directory changes meanwhile).
fn oci_image(
    shared: &mut Shared,
    name: &str,
    r: &OciLayoutRef,
    line: usize,
) -> Result<BaseImage, BuildError> {
    let key = r.to_string();
    if let Some(image) = shared.oci_images.get(&key) {
        return Ok(image.clone());
    }
    let input = shared.input;
    let store = &input.runtime.store;
    let platform = input.resolver.platform();
    let desc = ocilayout::import(store, r, &platform).map_err(|error| BuildError::OciLayout {
        line,
        name: name.to_string(),
        reference: key.clone(),
        error: Box::new(error),
    })?;
    let image = BaseImage::load(store, &key, &desc)?;
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
    step: crate::ops::StepMeta,
    line: usize,
) -> Result<StageState, BuildError> {
    let image = named_image(shared, name, &named, line)?;
    st.out = super::stage::from_image(shared, &mut st, image, step);
    let NamedContext::Local(dir) = named else {
        return Ok(st);
    };
    let text = format!("COPY {} /", dir.display());
    let step = shared.step(&mut st, line, &text);
    st.position -= 1;
    let store = Some(shared.input.runtime.store.clone());
    let op = CopyOp {
        step,
        sources: vec![CopySource::Path(".".into())],
        dest: "/".into(),
        dest_is_dir: true,
        chown: None,
        chmod: None,
        from_input: false,
        exclude: Arc::new(LocalContext::plain(dir, store)),
        parents: false,
        excludes: Vec::new(),
        add: None,
        rt: shared.input.runtime.clone(),
        fetched: Default::default(),
        prefetched: Default::default(),
    };
    let v = shared.add(BuildOp::Copy(Box::new(op)), vec![st.out.vertex], &st.name);
    push_fs(&mut st, v, format!("{text} # rbuild"));
    Ok(st)
}
