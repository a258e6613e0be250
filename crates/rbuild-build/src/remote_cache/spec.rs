//! `--cache-to` and `--cache-from` values, parsed as buildx spells them, into typed requests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rbuild_layer::Compression;

/// Which build results a cache export holds (BuildKit's `mode=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The steps of the exported images only (BuildKit's default).
    #[default]
    Min,
    /// Every step of every stage the build ran or found cached.
    Max,
}

/// Where a remote cache lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A registry repository and tag (`ref=`).
    Registry(String),
    /// An OCI image layout directory and the tag in its `index.json`.
    Local {
        /// The directory.
        dir: PathBuf,
        /// The `org.opencontainers.image.ref.name` of the cache manifest (`tag=`, default `latest`).
        tag: String,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Registry(r) => f.write_str(r),
            Place::Local { dir, tag } => write!(f, "{} (tag {tag})", dir.display()),
        }
    }
}

/// One `--cache-to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheTo {
    /// A cache artifact written to a registry or a layout directory.
    Remote {
        /// Where.
        place: Place,
        /// Which records.
        mode: Mode,
        /// `ignore-error=true`: a failed export is a warning, not a failed build.
        ignore_error: bool,
        /// `mounts=true`: the cache mounts the build uses go beside the cache (tag
        /// `<tag>-mounts`), incrementally, as `rbuild cache export --mounts` writes them.
        mounts: bool,
        /// `compression=` (and `compression-level=`): the build's own layers go into the
        /// cache compressed this way, under the keys a build with that compression looks up;
        /// `None` keeps the build's compression.
        compression: Option<Compression>,
    },
    /// The records of the image's own steps in its config (`type=inline`).
    Inline,
}

/// One `--cache-from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheFrom {
    /// Where the cache is read from.
    pub place: Place,
    /// `mounts=true`: restore the cache mounts stored beside the cache before the build.
    pub mounts: bool,
}

/// What is wrong with a `--cache-to`/`--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheSpecError {
    /// A field without `=`.
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    /// A key given twice.
    #[error("{0} given twice")]
    Twice(String),
    /// A cache type this builder does not have.
    #[error("unsupported cache type {0:?} (supported: registry, local, inline)")]
    Type(String),
    /// A required key is missing.
    #[error("type={kind} needs {key}=")]
    Missing {
        /// The type.
        kind: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A key this type does not take, or one rbuild refuses rather than ignores.
    #[error("option {key:?} is not supported{why}")]
    Unsupported {
        /// The key.
        key: String,
        /// Why, with a leading `: `, or empty.
        why: &'static str,
    },
    /// A compression option is wrong or not supported.
    #[error("compression")]
    Compression(#[source] crate::export::SpecError),
    /// A value out of its range.
    #[error("{key}={value:?}: {expected}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
}

type Kv = BTreeMap<String, String>;

fn fields(spec: &str) -> Result<Kv, CacheSpecError> {
    let mut kv = Kv::new();
    for field in crate::export::split_csv(spec) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| CacheSpecError::NotKeyValue(field.clone()))?;
        if kv.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(CacheSpecError::Twice(k.trim().to_string()));
        }
    }
    Ok(kv)
}

/// Parses one `--cache-to` value.
pub fn parse_cache_to(spec: &str) -> Result<CacheTo, CacheSpecError> {
    let mut kv = fields(spec)?;
    let kind = kv.remove("type").unwrap_or_else(|| "registry".into());
    if kind == "inline" {
        let why = ": an inline cache names the image's own layers";
        finish(kv, &[("compression", why), ("compression-level", why)])?;
        return Ok(CacheTo::Inline);
    }
    let place = take_place(&mut kv, &kind, "dest")?;
    let mode = match kv.remove("mode").as_deref() {
        None | Some("min") => Mode::Min,
        Some("max") => Mode::Max,
        Some(v) => return Err(value("mode", v, "min or max")),
    };
    let ignore_error = flag(&mut kv, "ignore-error")?.unwrap_or(false);
    let mounts = flag(&mut kv, "mounts")?.unwrap_or(false);
    // rbuild always writes an OCI image manifest with OCI media types; say so rather than
    // silently ignore a request for BuildKit's other layouts.
    if flag(&mut kv, "oci-mediatypes")? == Some(false) {
        return Err(unsupported("oci-mediatypes", ": the cache is always OCI"));
    }
    if flag(&mut kv, "image-manifest")? == Some(false) {
        return Err(unsupported(
            "image-manifest",
            ": the cache is always one OCI image manifest",
        ));
    }
    // The same spelling and ranges as --output's; force-compression=true is refused there
    // too (base image layers are kept as they are).
    let compression =
        crate::export::take_compression(&mut kv).map_err(CacheSpecError::Compression)?;
    finish(kv, &[])?;
    Ok(CacheTo::Remote {
        place,
        mode,
        ignore_error,
        mounts,
        compression,
    })
}

/// Parses one `--cache-from` value: `type=…,…` or a bare registry reference.
pub fn parse_cache_from(spec: &str) -> Result<CacheFrom, CacheSpecError> {
    if !spec.contains('=') {
        return Ok(CacheFrom {
            place: Place::Registry(spec.to_string()),
            mounts: false,
        });
    }
    let mut kv = fields(spec)?;
    let kind = kv.remove("type").unwrap_or_else(|| "registry".into());
    let place = take_place(&mut kv, &kind, "src")?;
    let mounts = flag(&mut kv, "mounts")?.unwrap_or(false);
    finish(kv, &[])?;
    Ok(CacheFrom { place, mounts })
}

fn take_place(kv: &mut Kv, kind: &str, dir_key: &'static str) -> Result<Place, CacheSpecError> {
    match kind {
        "registry" => kv
            .remove("ref")
            .filter(|r| !r.is_empty())
            .map(Place::Registry)
            .ok_or(CacheSpecError::Missing {
                kind: "registry",
                key: "ref",
            }),
        "local" => {
            let dir =
                kv.remove(dir_key)
                    .filter(|d| !d.is_empty())
                    .ok_or(CacheSpecError::Missing {
                        kind: "local",
                        key: dir_key,
                    })?;
            let tag = kv.remove("tag").unwrap_or_else(|| "latest".into());
            if tag.is_empty() || tag.contains('/') {
                return Err(value("tag", &tag, "a tag without '/'"));
            }
            Ok(Place::Local {
                dir: dir.into(),
                tag,
            })
        }
        other => Err(CacheSpecError::Type(other.to_string())),
    }
}

/// Refuses what is left: keys in `refused` get the reason they are refused.
fn finish(kv: Kv, refused: &[(&str, &'static str)]) -> Result<(), CacheSpecError> {
    let Some(key) = kv.into_keys().next() else {
        return Ok(());
    };
    let why = refused
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, why)| *why);
    Err(unsupported(&key, why))
}

fn flag(kv: &mut Kv, key: &'static str) -> Result<Option<bool>, CacheSpecError> {
    match kv.remove(key).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(v) => Err(value(key, v, "true or false")),
    }
}

fn value(key: &'static str, v: &str, expected: &'static str) -> CacheSpecError {
    CacheSpecError::Value {
        key,
        value: v.to_string(),
        expected,
    }
}

fn unsupported(key: &str, why: &'static str) -> CacheSpecError {
    CacheSpecError::Unsupported {
        key: key.to_string(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(r: &str) -> Place {
        Place::Registry(r.into())
    }

    #[test]
    fn cache_to_forms_as_buildx_spells_them() {
        let to = parse_cache_to("type=registry,ref=127.0.0.1:5000/app:cache,mode=max").unwrap();
        let want = CacheTo::Remote {
            place: reg("127.0.0.1:5000/app:cache"),
            mode: Mode::Max,
            ignore_error: false,
            mounts: false,
            compression: None,
        };
        assert_eq!(to, want);
        let local = parse_cache_to("type=local,dest=/tmp/c,ignore-error=true").unwrap();
        let want = CacheTo::Remote {
            place: Place::Local {
                dir: "/tmp/c".into(),
                tag: "latest".into(),
            },
            mode: Mode::Min,
            ignore_error: true,
            mounts: false,
            compression: None,
        };
        assert_eq!(local, want);
        let zstd = parse_cache_to("type=registry,ref=a/b,compression=zstd,compression-level=9");
        assert!(matches!(
            zstd.unwrap(),
            CacheTo::Remote {
                compression: Some(Compression::Zstd { level: 9 }),
                ..
            }
        ));
        let gzip = parse_cache_to("type=local,dest=/c,compression=gzip").unwrap();
        assert!(matches!(
            gzip,
            CacheTo::Remote {
                compression: Some(Compression::Gzip { level: 6 }),
                ..
            }
        ));
        assert_eq!(parse_cache_to("type=inline").unwrap(), CacheTo::Inline);
        let ok = "type=registry,ref=r/a:c,image-manifest=true,oci-mediatypes=true";
        assert!(parse_cache_to(ok).is_ok());
        let with_mounts = parse_cache_to("type=local,dest=/c,mounts=true").unwrap();
        assert!(matches!(with_mounts, CacheTo::Remote { mounts: true, .. }));
    }

    #[test]
    fn cache_from_forms() {
        assert_eq!(parse_cache_from("r/a:c").unwrap().place, reg("r/a:c"));
        let from = parse_cache_from("type=local,src=./c,tag=v1").unwrap();
        let want = Place::Local {
            dir: "./c".into(),
            tag: "v1".into(),
        };
        assert_eq!(from.place, want);
        assert!(!from.mounts);
        assert!(
            parse_cache_from("type=registry,ref=x/y,mounts=true")
                .unwrap()
                .mounts
        );
        assert_eq!(
            parse_cache_from("type=registry,ref=x/y").unwrap().place,
            reg("x/y")
        );
    }

    #[test]
    fn what_rbuild_does_not_do_is_refused_not_ignored() {
        let refused = [
            "type=gha",
            "type=s3,bucket=b",
            "type=registry",
            "type=local",
            "type=registry,ref=a/b,mode=all",
            "type=registry,ref=a/b,mounts=yes",
            "type=inline,mounts=true",
            "type=registry,ref=a/b,compression=lz4",
            "type=registry,ref=a/b,compression=zstd,compression-level=40",
            "type=registry,ref=a/b,compression=zstd,force-compression=true",
            "type=inline,compression=zstd",
            "type=registry,ref=a/b,image-manifest=false",
            "type=registry,ref=a/b,oci-mediatypes=false",
            "type=registry,ref=a/b,frobnicate=1",
            "type=inline,mode=max",
            "type=local,dest=d,tag=a/b",
            "type=registry,ref=a/b,ref=c/d",
        ];
        for spec in refused {
            assert!(parse_cache_to(spec).is_err(), "{spec}");
        }
        let err = parse_cache_to("type=inline,compression=zstd").unwrap_err();
        assert!(err.to_string().contains("own layers"), "{err}");
        assert!(parse_cache_from("type=local,dest=d").is_err());
        assert!(parse_cache_from("type=registry,ref=a/b,mode=max").is_err());
    }
}
