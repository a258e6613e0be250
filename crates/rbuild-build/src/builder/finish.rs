//! The end of a build: each platform's image written (config, manifest, annotations, the
//! inline cache) and the outputs run.

use rbuild_oci::{Descriptor, Platform};
use rbuild_store::Store;

use crate::annotations::{AnnotationTarget as Target, Annotations};
use crate::export::{self, Dest, Exported, Output};
use crate::image::{finish_config, write_image, FsState, Written};
use crate::plan::Plan;
use crate::progress::Event;
use crate::remote_cache::{CacheDoc, INLINE_KEY};
use crate::{BuildError, BuildRequest, Services};

/// Writes one platform's image: its config finished (history, `--label`s, the epoch) and its
/// manifest with the `--annotation`s for it, on a descriptor carrying the descriptor ones.
pub(super) fn final_image(
    req: &BuildRequest,
    store: &Store,
    plan: &Plan,
    fs: &FsState,
    inline_cache: Option<CacheDoc>,
) -> Result<(Platform, Written), BuildError> {
    let image = &plan.image;
    let mut config = finish_config(
        image.config.clone(),
        &image.history,
        fs,
        image.base_created.as_deref(),
    );
    // BuildKit stamps the image itself with SOURCE_DATE_EPOCH, whatever the base's date.
    if let Some(epoch) = req.source_date_epoch {
        let stamp = crate::time::rfc3339(epoch);
        config.created = Some(stamp.clone());
        // So are the build's own history entries (dockerfile2llb commitToHistory takes the
        // epoch), whatever time a cached step recorded; the base image's entries stay.
        let slots = image.history.iter();
        for (h, slot) in config.history.iter_mut().zip(slots) {
            if !matches!(slot, crate::image::HistorySlot::Base(_)) {
                h.created = Some(stamp.clone());
            }
        }
    }
    if let Some(doc) = inline_cache {
        let doc = serde_json::to_value(doc)
            .map_err(|e| BuildError::general(format!("inline cache: {e}")))?;
        config.extra.insert(INLINE_KEY.to_string(), doc);
    }
    if !req.labels.is_empty() {
        let labels = config.config.labels.get_or_insert_with(Default::default);
        labels.extend(req.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let notes = Annotations(&req.annotations);
    let platform = Some(&plan.platform);
    let mut written = write_image(
        store,
        &config,
        fs,
        notes.for_target(Target::Manifest, platform),
    )?;
    written.manifest.annotations = notes.for_target(Target::ManifestDescriptor, platform);
    Ok((plan.platform.clone(), written))
}

/// Runs every `--output` (the store's tags when none).
pub(super) fn run_exports(
    req: &BuildRequest,
    store: &Store,
    manifest: &Descriptor,
    services: &Services,
) -> Result<Exported, BuildError> {
    let default = [Output::Image {
        names: Vec::new(),
        push: false,
        push_by_digest: false,
        name_canonical: false,
    }];
    let outputs = if req.outputs.is_empty() {
        &default[..]
    } else {
        &req.outputs[..]
    };
    let mut all = Exported::default();
    for output in outputs {
        let what = describe(output);
        services
            .reporter
            .event(Event::Note(format!("exporting to {what}")));
        let sinks = export::Sinks {
            pusher: services.pusher,
            loader: services.loader,
        };
        let done = export::export(store, manifest, output, &req.tags, sinks)
            .map_err(|source| BuildError::Export { what, source })?;
        if let Some(said) = done.loaded {
            services.reporter.event(Event::Note(said));
        }
        all.tagged.extend(done.tagged);
        all.pushed.extend(done.pushed);
        all.canonical.extend(done.canonical);
    }
    Ok(all)
}

fn describe(output: &Output) -> String {
    let dest = |d: &Dest| match d {
        Dest::File(p) => p.display().to_string(),
        Dest::Stdout => "stdout".to_string(),
    };
    match output {
        Output::Image { push: false, .. } => "the store".to_string(),
        Output::Image { push: true, .. } => "the store and the registry".to_string(),
        Output::Oci {
            dest: d, tar: true, ..
        } => format!("OCI archive {}", dest(d)),
        Output::Oci { dest: d, .. } => format!("OCI layout directory {}", dest(d)),
        Output::Docker { dest: d, .. } => format!("docker archive {}", dest(d)),
        Output::Local { dest } => format!("directory {}", dest.display()),
        Output::Load { .. } => "the docker engine".to_string(),
        Output::Tar { dest: d } => format!("root filesystem tar {}", dest(d)),
    }
}
