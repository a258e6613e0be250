//! The plan as text (`rbuild debug plan`, and the golden files of the lowering suite): each
//! vertex with its edges, what it does, and the components of its cache key.

use std::fmt::Write;

use rbuild_solver::{CacheKey, Components};

use super::{CopyFrom, CopySource, OpKind, Plan, Vertex};
use crate::image::HistorySlot;

/// A vertex's cache key as far as it could be computed without running anything.
#[derive(Clone, Debug)]
pub enum KeyView {
    /// The key and its named components.
    Known(CacheKey, Components),
    /// Why it is not known yet (e.g. an input needs a download).
    Unknown(String),
}

/// The plan as text: the vertices the target needs with their keys (`keys[i]` is vertex
/// `i`'s), then the final image's config and history.
pub fn show(plan: &Plan, keys: &[KeyView]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "platform {}", plan.platform.to_spec());
    let _ = writeln!(out, "target v{}", plan.target.0);
    for id in plan.needed() {
        let v = &plan.vertices[id.0];
        vertex(&mut out, id.0, v);
        match keys.get(id.0) {
            Some(KeyView::Known(key, comps)) => {
                let _ = writeln!(out, "  key {}", key.to_hex());
                for (name, value) in comps {
                    let _ = writeln!(out, "    {name} = {value}");
                }
            }
            Some(KeyView::Unknown(why)) => {
                let _ = writeln!(out, "  key unknown: {why}");
            }
            None => {}
        }
    }
    image(&mut out, plan);
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

fn vertex(out: &mut String, i: usize, v: &Vertex) {
    let info = &v.step.info;
    let _ = writeln!(out, "v{i} {} {}", info.label, info.instruction);
    let inputs: Vec<String> = v.inputs.iter().map(|i| format!("v{}", i.0)).collect();
    let line = v
        .step
        .location
        .line
        .map_or("-".to_string(), |l| l.to_string());
    let _ = writeln!(
        out,
        "  op {} stage {:?} line {line} inputs [{}]",
        v.op.name(),
        v.stage,
        inputs.join(" ")
    );
    match &v.op {
        OpKind::Base(b) => {
            let _ = writeln!(out, "  source {} layers {}", b.source, b.fs.layers.len());
        }
        OpKind::Run(r) => {
            let _ = writeln!(out, "  argv {:?}", r.argv);
            let _ = writeln!(out, "  env {:?}", r.env);
            let _ = writeln!(
                out,
                "  cwd {:?} user {:?} network {:?}{}",
                r.cwd,
                r.user,
                r.network,
                if r.insecure { " security insecure" } else { "" }
            );
            for m in &r.mounts {
                let _ = writeln!(out, "  mount {m:?}");
            }
        }
        OpKind::Copy(c) => copy(out, c),
        OpKind::Workdir(w) => {
            let _ = writeln!(out, "  path {:?} user {:?}", w.path, w.user);
        }
    }
}

fn copy(out: &mut String, c: &super::CopyOp) {
    let from = match &c.from {
        CopyFrom::Context => "context".to_string(),
        CopyFrom::Dir(d) => format!("dir {}", d.display()),
        CopyFrom::Input => "input".to_string(),
    };
    let sources: Vec<String> = c
        .sources
        .iter()
        .map(|s| match s {
            CopySource::Path(p) => format!("{p:?}"),
            CopySource::Inline { name, content } => format!("<<{name} {content:?}"),
            CopySource::Url(u) => format!("url {u:?}"),
            CopySource::Git(g) => format!("git {:?}", g.url),
        })
        .collect();
    let _ = writeln!(out, "  from {from} sources [{}]", sources.join(" "));
    let _ = writeln!(
        out,
        "  dest {:?} dir {} chown {:?} chmod {:?} parents {} exclude {:?}",
        c.dest,
        c.dest_is_dir,
        c.chown,
        c.chmod.as_ref().map(|m| m.key()),
        c.parents,
        c.excludes
    );
}

fn image(out: &mut String, plan: &Plan) {
    let mut config = plan.image.config.clone();
    config.history.clear();
    config.rootfs.diff_ids.clear();
    let json = serde_json::to_string_pretty(&config).unwrap_or_default();
    let _ = writeln!(out, "config {json}");
    for slot in &plan.image.history {
        let _ = match slot {
            HistorySlot::Base(h) => writeln!(
                out,
                "history base {:?}",
                h.created_by.as_deref().unwrap_or("")
            ),
            HistorySlot::Meta { created_by, .. } => writeln!(out, "history meta {created_by:?}"),
            HistorySlot::Fs { created_by, step } => {
                writeln!(out, "history fs {step} {created_by:?}")
            }
        };
    }
}
