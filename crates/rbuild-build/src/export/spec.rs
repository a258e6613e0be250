//! `--output` values, parsed as buildx spells them, into typed outputs.

mod compression;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rbuild_layer::Compression;

use super::ExportError;
pub use compression::layer_compression;
pub(crate) use compression::take as take_compression;

/// Where a tar output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A file, replaced atomically (a device or FIFO is written into).
    File(PathBuf),
    /// Standard output (`dest=-`).
    Stdout,
}

/// One `--output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Tag the image in the store and, with `push`, push it to each name's registry
    /// (`type=registry` is `type=image,push=true,store=false`); empty `names` means the
    /// build's `-t` tags.
    Image {
        /// Tags to set (and push).
        names: Vec<String>,
        /// Whether to push every name after tagging.
        push: bool,
        /// `store=`: whether the image is tagged in the store, with every layer blob in it.
        /// Without it a push sends (or mounts) what the registry lacks and fetches nothing
        /// else: the layers a remote cache hit left in the registry stay there.
        store: bool,
        /// `push-by-digest=true`: push to each name's repository by digest, no tag.
        push_by_digest: bool,
        /// `name-canonical=true`: also name the image `NAME@DIGEST` (in the result's names).
        name_canonical: bool,
    },
    /// The final root filesystem as a tarball (`type=tar`); several platforms go into
    /// `<os>_<arch>/` directories of it.
    Tar {
        /// Destination.
        dest: Dest,
    },
    /// An OCI image layout, as a tar or (`tar=false`) a directory.
    Oci {
        /// Destination.
        dest: Dest,
        /// Whether `dest` is a tar (else a directory path in `Dest::File`).
        tar: bool,
        /// `ref.name` annotations; empty means the build's tags.
        names: Vec<String>,
    },
    /// A docker-archive tar (`docker load`, `skopeo docker-archive:`).
    Docker {
        /// Destination.
        dest: Dest,
        /// `RepoTags`; empty means the build's tags.
        names: Vec<String>,
    },
    /// A docker archive loaded into the docker engine (`--load`, or `type=docker` without
    /// `dest`, as buildx does).
    Load {
        /// `RepoTags`; empty means the build's tags.
        names: Vec<String>,
    },
    /// The root filesystem unpacked into a directory.
    Local {
        /// The directory (created if missing).
        dest: PathBuf,
    },
}

impl Output {
    /// The names given with `name=` (empty: the build's tags).
    pub fn names(&self) -> &[String] {
        match self {
            Output::Image { names, .. }
            | Output::Oci { names, .. }
            | Output::Docker { names, .. }
            | Output::Load { names } => names,
            Output::Local { .. } | Output::Tar { .. } => &[],
        }
    }
}

/// A parsed `--output` value: the output and the layer compression it asks for, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// What to export.
    pub output: Output,
    /// `compression=` / `compression-level=`, when given.
    pub compression: Option<Compression>,
}

/// What is wrong with an `--output` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A field without `=`.
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    /// A key given twice.
    #[error("{0} given twice")]
    Twice(String),
    /// No `type=`.
    #[error("missing type=")]
    MissingType,
    /// A key this output does not take.
    #[error("unknown or unsupported option {0:?}")]
    Unknown(String),
    /// A type this builder does not have.
    #[error("unsupported type {0:?} (supported: image, registry, oci, docker, local, tar)")]
    Type(String),
    /// A missing or misplaced `dest=`.
    #[error("{0}")]
    Dest(&'static str),
    /// A value out of its range or of the wrong kind.
    #[error("{key}={value:?}: {expected}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// Something buildx accepts that this builder does not do, and what to do instead.
    #[error("{0}")]
    NotSupported(&'static str),
}

/// Splits `a=1,"b=x,y",c` on commas outside double quotes, dropping the quotes (buildx's CSV).
pub(crate) fn split_csv(spec: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in spec.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().map_or((), |f| f.push(c)),
        }
    }
    fields
}

/// Parses one `--output` value: `type=…,key=value,…`, or a bare path (= `type=local,dest=PATH`).
pub fn parse_output(spec: &str) -> Result<OutputSpec, ExportError> {
    parse_fields(spec).map_err(|source| ExportError::Spec {
        spec: spec.to_string(),
        source,
    })
}

fn parse_fields(spec: &str) -> Result<OutputSpec, SpecError> {
    if spec == "-" {
        // buildx: `-o -` is the root filesystem as a tar on stdout.
        return Ok(OutputSpec {
            output: Output::Tar { dest: Dest::Stdout },
            compression: None,
        });
    }
    if !spec.contains('=') {
        let output = Output::Local { dest: spec.into() };
        return Ok(OutputSpec {
            output,
            compression: None,
        });
    }
    let mut kv = BTreeMap::new();
    for field in split_csv(spec) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| SpecError::NotKeyValue(field.clone()))?;
        if kv.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(SpecError::Twice(k.trim().to_string()));
        }
    }
    let compression = compression::take(&mut kv)?;
    let output = take_output(&mut kv)?;
    if let Some(k) = kv.keys().next() {
        return Err(SpecError::Unknown(k.clone()));
    }
    if compression.is_some() && matches!(output, Output::Local { .. } | Output::Tar { .. }) {
        return Err(SpecError::NotSupported(
            "type=local and type=tar write files, not layers: compression does not apply",
        ));
    }
    Ok(OutputSpec {
        output,
        compression,
    })
}

type Kv = BTreeMap<String, String>;

/// `true`/`false` (buildx also takes nothing else).
fn flag(kv: &mut Kv, key: &'static str) -> Result<Option<bool>, SpecError> {
    match kv.remove(key).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(v) => Err(SpecError::Value {
            key,
            value: v.to_string(),
            expected: "expected true or false",
        }),
    }
}

fn take_output(kv: &mut Kv) -> Result<Output, SpecError> {
    let ty = kv.remove("type").ok_or(SpecError::MissingType)?;
    let names: Vec<String> = kv
        .remove("name")
        .map(|n| {
            n.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let dest = kv.remove("dest");
    let tar_dest = |dest: Option<String>| match dest.as_deref() {
        None | Some("") => Err(SpecError::Dest("needs dest=FILE (or dest=- for stdout)")),
        Some("-") => Ok(Dest::Stdout),
        Some(p) => Ok(Dest::File(p.into())),
    };
    if let Some(image) = take_image(kv, &ty, names.clone(), dest.as_deref())? {
        return Ok(image);
    }
    match ty.as_str() {
        "oci" => {
            let tar = flag(kv, "tar")?.unwrap_or(true);
            let dest = tar_dest(dest)?;
            if !tar && dest == Dest::Stdout {
                return Err(SpecError::Dest("tar=false needs a directory dest"));
            }
            Ok(Output::Oci { dest, tar, names })
        }
        "docker" if dest.as_deref().is_none_or(str::is_empty) => Ok(Output::Load { names }),
        "docker" => Ok(Output::Docker {
            dest: tar_dest(dest)?,
            names,
        }),
        "tar" => Ok(Output::Tar {
            dest: tar_dest(dest)?,
        }),
        "local" => match dest {
            Some(d) if !d.is_empty() && d != "-" => Ok(Output::Local { dest: d.into() }),
            _ => Err(SpecError::Dest("type=local needs dest=DIR")),
        },
        other => Err(SpecError::Type(other.to_string())),
    }
}

/// `type=image|registry` with its push options; `None` for other types, which must not
/// carry those options.
fn take_image(
    kv: &mut Kv,
    ty: &str,
    names: Vec<String>,
    dest: Option<&str>,
) -> Result<Option<Output>, SpecError> {
    let push = flag(kv, "push")?;
    let by_digest = flag(kv, "push-by-digest")?;
    let canonical = flag(kv, "name-canonical")?;
    let store = flag(kv, "store")?;
    let is_image = matches!(ty, "image" | "registry");
    if !is_image {
        if push.is_some() || by_digest.is_some() || canonical.is_some() || store.is_some() {
            return Err(SpecError::NotSupported(
                "push=, push-by-digest=, name-canonical= and store= apply to type=image only",
            ));
        }
        return Ok(None);
    }
    if dest.is_some() {
        return Err(SpecError::Dest("type=image takes no dest"));
    }
    let push_by_digest = by_digest.unwrap_or(false);
    let push = push.unwrap_or(ty == "registry") || push_by_digest;
    if store == Some(false) && !push {
        return Err(SpecError::NotSupported(
            "store=false without push=true exports nothing",
        ));
    }
    Ok(Some(Output::Image {
        names,
        push,
        // BuildKit's image exporter has store=true by default, but its OCI worker (standalone
        // buildkitd, buildx's docker-container driver: what CI runners use) keeps nothing of
        // a type=registry push; rbuild's store is its image store, so type=image keeps the
        // image and type=registry, as there, does not.
        store: store.unwrap_or(ty == "image"),
        push_by_digest,
        name_canonical: canonical.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests;
