//! The end of a build: each platform's image written (config, manifest, annotations, the
//! inline cache) and the outputs run.

use rbuild_oci::{Descriptor, Platform};
use rbuild_store::Store;

use crate::annotations::{AnnotationTarget as Target, Annotations};
use crate::export::{self, Dest, Exported, LayerFetch, Output};
use crate::image::{finish_config, write_image, FsState, Written};
use crate::ops::Runtime;
use crate::plan::Plan;
use crate::progress::Event;
use crate::remote_cache::INLINE_KEY;
use crate::remote_cache::{export_caches, inline_doc, CacheDoc, CacheTo, Imported, Links};
use crate::{BuildError, BuildRequest, Services};

/// What one attempt of a build made: each platform's image, the image (or index) the
/// outputs got, and what they did.
pub(super) type Finished = (Vec<(Platform, Written)>, Descriptor, Exported);

/// One attempt of a planned build: solve, write each platform's image, run the outputs and
/// the cache exports.
pub(super) fn solve_and_export(
    req: &BuildRequest,
    plans: &[Plan],
    rt: &Runtime<'_>,
    links: &Links<'_>,
    services: &Services,
) -> Result<Finished, BuildError> {
    let store = &*rt.store;
    let values = crate::solve::run_plans(plans, rt, links)?;
    let inline = req.cache_to.contains(&CacheTo::Inline);
    let images = plans
        .iter()
        .zip(&values)
        .map(|(plan, fs)| {
            let inline = inline.then(|| inline_doc(&links.recorder, fs));
            final_image(req, store, plan, fs, inline)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = super::target_descriptor(req, store, &images)?;
    let layers = ImageLayers::of(store, &links.imported, &values);
    let exported = run_exports(req, &target, services, &layers)?;
    export_caches(store, links, &values, &*rt.reporter)?;
    Ok((images, target, exported))
}

/// Writes one platform's image: its config finished (history, `--label`s, the epoch) and its
/// manifest with the `--annotation`s for it, on a descriptor carrying the descriptor ones.
fn final_image(
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

/// The layers of the built images, fetched for an export from the remote caches their hits
/// came from when it needs their bytes.
struct ImageLayers<'a> {
    store: &'a Store,
    imported: &'a Imported<'a>,
    layers: Vec<Descriptor>,
}

impl ImageLayers<'_> {
    /// The layers of every state in `values`.
    fn of<'a>(store: &'a Store, imported: &'a Imported<'a>, values: &[FsState]) -> ImageLayers<'a> {
        let layers = values
            .iter()
            .flat_map(|fs| fs.layers.iter().map(|l| l.descriptor.clone()))
            .collect();
        ImageLayers {
            store,
            imported,
            layers,
        }
    }
}

impl LayerFetch for ImageLayers<'_> {
    fn fetch(&self, registry: Option<&str>) -> Result<usize, BuildError> {
        self.imported.ensure_for(self.store, &self.layers, registry)
    }
}

/// Runs every `--output` (the store's tags when none).
fn run_exports(
    req: &BuildRequest,
    manifest: &Descriptor,
    services: &Services,
    layers: &ImageLayers<'_>,
) -> Result<Exported, BuildError> {
    let store = layers.store;
    let default = [Output::Image {
        names: Vec::new(),
        store: true,
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
            layers,
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
        Output::Image {
            push: true,
            store: false,
            ..
        } => "the registry".to_string(),
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
