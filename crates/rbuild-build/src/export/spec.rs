//! `--output` values, parsed as buildx spells them.

use std::path::PathBuf;

use rbuild_layer::Compression;

use super::ExportError;

/// Where a tar output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A file, replaced atomically.
    File(PathBuf),
    /// Standard output (`dest=-`).
    Stdout,
}

/// One `--output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Tag the image in the store; empty `names` means the build's `-t` tags.
    Image {
        /// Tags to set.
        names: Vec<String>,
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
    /// The root filesystem unpacked into a directory.
    Local {
        /// The directory (created if missing).
        dest: PathBuf,
    },
}

/// A parsed `--output` value: the output and the layer compression it asks for, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// What to export.
    pub output: Output,
    /// `compression=` / `compression-level=`, when given.
    pub compression: Option<Compression>,
}

/// Splits `a=1,"b=x,y",c` on commas outside double quotes, dropping the quotes (buildx's CSV).
fn split_csv(spec: &str) -> Vec<String> {
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
    let err = |message: String| ExportError::Spec {
        spec: spec.to_string(),
        message,
    };
    if spec == "-" {
        return Err(err("a root filesystem tar on stdout (type=tar) is not supported; use type=oci,dest=- or type=docker,dest=-".into()));
    }
    if !spec.contains('=') {
        let output = Output::Local { dest: spec.into() };
        return Ok(OutputSpec {
            output,
            compression: None,
        });
    }
    let mut kv = std::collections::BTreeMap::new();
    for field in split_csv(spec) {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| err(format!("{field:?} is not key=value")))?;
        if kv.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(err(format!("{k} given twice")));
        }
    }
    let compression = take_compression(&mut kv).map_err(err)?;
    let output = take_output(&mut kv).map_err(err)?;
    if let Some(k) = kv.keys().next() {
        return Err(err(format!("unknown or unsupported option {k:?}")));
    }
    if compression.is_some() && matches!(output, Output::Local { .. }) {
        return Err(err(
            "type=local writes files, not layers: compression does not apply".into(),
        ));
    }
    Ok(OutputSpec {
        output,
        compression,
    })
}

type Kv = std::collections::BTreeMap<String, String>;

fn take_output(kv: &mut Kv) -> Result<Output, String> {
    let ty = kv.remove("type").ok_or("missing type=")?;
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
        None | Some("") => Err(format!("type={ty} needs dest=FILE (or dest=- for stdout)")),
        Some("-") => Ok(Dest::Stdout),
        Some(p) => Ok(Dest::File(p.into())),
    };
    if let Some(p) = kv.remove("push") {
        if p != "false" {
            return Err("push is not supported here; use `rbuild push`".into());
        }
    }
    match ty.as_str() {
        "image" => {
            if dest.is_some() {
                return Err("type=image takes no dest".into());
            }
            Ok(Output::Image { names })
        }
        "oci" => {
            let tar = match kv.remove("tar").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(v) => return Err(format!("tar={v:?}: expected true or false")),
            };
            let dest = tar_dest(dest)?;
            if !tar && dest == Dest::Stdout {
                return Err("tar=false needs a directory dest".into());
            }
            Ok(Output::Oci { dest, tar, names })
        }
        "docker" => Ok(Output::Docker {
            dest: tar_dest(dest)?,
            names,
        }),
        "local" => match dest {
            Some(d) if !d.is_empty() && d != "-" => Ok(Output::Local { dest: d.into() }),
            _ => Err("type=local needs dest=DIR".into()),
        },
        other => Err(format!(
            "unsupported type {other:?} (supported: image, oci, docker, local)"
        )),
    }
}

fn take_compression(kv: &mut Kv) -> Result<Option<Compression>, String> {
    let kind = kv.remove("compression");
    let level = kv.remove("compression-level");
    if let Some(f) = kv.remove("force-compression") {
        if f != "false" {
            // New layers always get the asked compression; recompressing base layers is not done.
            return Err(
                "force-compression=true is not supported (base image layers are kept as they are)"
                    .into(),
            );
        }
    }
    if let Some(m) = kv.remove("oci-mediatypes") {
        if m != "true" {
            return Err("only OCI media types are produced (oci-mediatypes=true)".into());
        }
    }
    let level: Option<i64> = match level {
        None => None,
        Some(l) => Some(
            l.parse()
                .map_err(|_| format!("compression-level={l:?} is not a number"))?,
        ),
    };
    let compression = match (kind.as_deref(), level) {
        (None, None) => return Ok(None),
        (None | Some("gzip"), l) => gzip(l.unwrap_or(6))?,
        (Some("zstd"), l) => zstd(l.unwrap_or(3))?,
        (Some("uncompressed"), None) => Compression::None,
        (Some("uncompressed"), Some(_)) => {
            return Err("uncompressed takes no compression-level".into())
        }
        (Some(other), _) => {
            return Err(format!(
                "compression={other:?} (expected gzip, zstd or uncompressed)"
            ))
        }
    };
    Ok(Some(compression))
}

fn gzip(level: i64) -> Result<Compression, String> {
    match u32::try_from(level) {
        Ok(level @ 0..=9) => Ok(Compression::Gzip { level }),
        _ => Err(format!("gzip compression-level must be 0-9, not {level}")),
    }
}

fn zstd(level: i64) -> Result<Compression, String> {
    match i32::try_from(level) {
        Ok(level @ 1..=22) => Ok(Compression::Zstd { level }),
        _ => Err(format!("zstd compression-level must be 1-22, not {level}")),
    }
}

/// The one layer compression the outputs agree on (gzip level 6 when none asks).
pub fn layer_compression(specs: &[OutputSpec]) -> Result<Compression, ExportError> {
    let mut chosen: Option<Compression> = None;
    for c in specs.iter().filter_map(|s| s.compression) {
        match chosen {
            Some(prev) if prev != c => return Err(ExportError::Conflict(prev, c)),
            _ => chosen = Some(c),
        }
    }
    Ok(chosen.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(spec: &str) -> Output {
        parse_output(spec).unwrap().output
    }

    #[test]
    fn parses_buildx_spellings() {
        assert_eq!(out("type=image"), Output::Image { names: vec![] });
        assert_eq!(
            out("type=image,\"name=a:1,b:2\""),
            Output::Image {
                names: vec!["a:1".into(), "b:2".into()]
            }
        );
        assert_eq!(
            out("type=oci,dest=/x/y.tar"),
            Output::Oci {
                dest: Dest::File("/x/y.tar".into()),
                tar: true,
                names: vec![]
            }
        );
        assert_eq!(
            out("type=oci,dest=d,tar=false"),
            Output::Oci {
                dest: Dest::File("d".into()),
                tar: false,
                names: vec![]
            }
        );
        assert_eq!(
            out("type=docker,dest=-,name=x:1"),
            Output::Docker {
                dest: Dest::Stdout,
                names: vec!["x:1".into()]
            }
        );
        assert_eq!(
            out("type=local,dest=out"),
            Output::Local { dest: "out".into() }
        );
        assert_eq!(
            out("some/dir"),
            Output::Local {
                dest: "some/dir".into()
            }
        );
    }

    #[test]
    fn parses_compression() {
        let c = |s: &str| parse_output(s).unwrap().compression;
        assert_eq!(c("type=image"), None);
        assert_eq!(
            c("type=image,compression=zstd"),
            Some(Compression::Zstd { level: 3 })
        );
        assert_eq!(
            c("type=oci,dest=f,compression=zstd,compression-level=19"),
            Some(Compression::Zstd { level: 19 })
        );
        assert_eq!(
            c("type=image,compression=gzip"),
            Some(Compression::Gzip { level: 6 })
        );
        assert_eq!(
            c("type=image,compression-level=1"),
            Some(Compression::Gzip { level: 1 })
        );
        assert_eq!(
            c("type=image,compression=uncompressed"),
            Some(Compression::None)
        );
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        for bad in [
            "type=oci",
            "type=local",
            "type=tar,dest=x",
            "type=registry",
            "type=image,push=true",
            "type=image,compression=lz4",
            "type=image,compression=gzip,compression-level=10",
            "type=image,compression=zstd,compression-level=0",
            "type=image,compression=uncompressed,compression-level=1",
            "type=image,force-compression=true",
            "type=local,dest=x,compression=zstd",
            "type=image,bogus=1",
            "type=image,type=oci",
            "type=oci,dest=-,tar=false",
            "-",
        ] {
            assert!(parse_output(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn outputs_must_agree_on_compression() {
        let specs = |v: &[&str]| {
            v.iter()
                .map(|s| parse_output(s).unwrap())
                .collect::<Vec<_>>()
        };
        let agree = specs(&[
            "type=image,compression=zstd",
            "type=oci,dest=f",
            "type=docker,dest=g,compression=zstd",
        ]);
        assert_eq!(
            layer_compression(&agree).unwrap(),
            Compression::Zstd { level: 3 }
        );
        assert_eq!(
            layer_compression(&specs(&["type=local,dest=x"])).unwrap(),
            Compression::default()
        );
        let clash = specs(&[
            "type=image,compression=zstd",
            "type=oci,dest=f,compression=gzip",
        ]);
        assert!(layer_compression(&clash).is_err());
    }
}
