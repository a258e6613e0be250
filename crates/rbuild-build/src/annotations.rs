//! `--annotation [TYPES:]KEY=VALUE` as buildx spells it: where each annotation goes (the
//! manifest, the index, or the descriptors pointing at them), optionally for one platform.

use std::collections::BTreeMap;

use rbuild_oci::Platform;

/// Where an `--annotation` goes (buildx's prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnnotationTarget {
    /// The image manifest (`manifest:`, the default).
    Manifest,
    /// The image index of a multi-platform build (`index:`).
    Index,
    /// The descriptors that point at manifests (`manifest-descriptor:`).
    ManifestDescriptor,
    /// The descriptor that points at the index (`index-descriptor:`).
    IndexDescriptor,
}

/// One annotation for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    /// Where it goes.
    pub target: AnnotationTarget,
    /// Only this platform's manifest (`manifest[linux/arm64]:`); `None` for all.
    pub platform: Option<Platform>,
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// Why an `--annotation` value is malformed.
#[derive(Debug, thiserror::Error)]
pub enum AnnotationError {
    /// Not `[TYPES:]KEY=VALUE`.
    #[error("--annotation {spec:?}: expected [manifest|index|manifest-descriptor|index-descriptor[,...]:]KEY=VALUE")]
    Syntax {
        /// The value as given.
        spec: String,
    },
    /// A type prefix buildx does not know.
    #[error("--annotation {spec:?}: unknown annotation type {kind:?} (manifest, index, manifest-descriptor, index-descriptor)")]
    Type {
        /// The value as given.
        spec: String,
        /// The unknown type.
        kind: String,
    },
    /// A platform selector on an index type, or one that is no platform.
    #[error("--annotation {spec:?}: a platform selects only manifest or manifest-descriptor annotations, as os/arch[/variant]")]
    Platform {
        /// The value as given.
        spec: String,
    },
    /// Index annotations asked of a build that makes one image, as BuildKit refuses them.
    #[error("index annotations ({key:?}) need a multi-platform build: this build makes one image, not an index")]
    NoIndex {
        /// The first such key.
        key: String,
    },
}

impl Annotation {
    /// Parses one `--annotation` value into one annotation per type it names.
    pub fn parse(spec: &str) -> Result<Vec<Annotation>, AnnotationError> {
        let syntax = || AnnotationError::Syntax {
            spec: spec.to_string(),
        };
        let (head, value) = spec.split_once('=').ok_or_else(syntax)?;
        // The first colon ends the types: keys may hold colons, types and platforms do not.
        let (types, key) = match head.split_once(':') {
            Some((t, k)) => (Some(t), k),
            None => (None, head),
        };
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err(syntax());
        }
        let Some(types) = types else {
            return Ok(vec![Annotation::new(
                AnnotationTarget::Manifest,
                None,
                key,
                value,
            )]);
        };
        types
            .split(',')
            .map(|t| {
                let (target, platform) = parse_type(spec, t)?;
                Ok(Annotation::new(target, platform, key, value))
            })
            .collect()
    }

    fn new(target: AnnotationTarget, platform: Option<Platform>, key: &str, value: &str) -> Self {
        Annotation {
            target,
            platform,
            key: key.to_string(),
            value: value.to_string(),
        }
    }
}

/// `manifest`, `index`, ... with an optional `[os/arch[/variant]]`.
fn parse_type(
    spec: &str,
    text: &str,
) -> Result<(AnnotationTarget, Option<Platform>), AnnotationError> {
    let (kind, platform) = match text.split_once('[') {
        Some((k, rest)) => {
            let p = rest
                .strip_suffix(']')
                .ok_or_else(|| AnnotationError::Syntax {
                    spec: spec.to_string(),
                })?;
            (k, Some(p))
        }
        None => (text, None),
    };
    let target = match kind {
        "manifest" => AnnotationTarget::Manifest,
        "index" => AnnotationTarget::Index,
        "manifest-descriptor" => AnnotationTarget::ManifestDescriptor,
        "index-descriptor" => AnnotationTarget::IndexDescriptor,
        other => {
            return Err(AnnotationError::Type {
                spec: spec.to_string(),
                kind: other.to_string(),
            })
        }
    };
    let platform_err = || AnnotationError::Platform {
        spec: spec.to_string(),
    };
    let platform = match platform {
        None => None,
        Some(_)
            if matches!(
                target,
                AnnotationTarget::Index | AnnotationTarget::IndexDescriptor
            ) =>
        {
            return Err(platform_err())
        }
        Some(p) => Some(rbuild_oci::platform::parse(p).map_err(|_| platform_err())?),
    };
    Ok((target, platform))
}

/// The annotations of one build, asked for by target and platform.
#[derive(Clone, Copy, Debug)]
pub struct Annotations<'a>(pub &'a [Annotation]);

impl Annotations<'_> {
    /// Those of `target` that apply to `platform` (`None`: the index's own), or `None` when
    /// there are none, so manifests without annotations keep their bytes.
    pub fn for_target(
        &self,
        target: AnnotationTarget,
        platform: Option<&Platform>,
    ) -> Option<BTreeMap<String, String>> {
        let map: BTreeMap<String, String> = self
            .0
            .iter()
            .filter(|a| a.target == target)
            .filter(|a| match (&a.platform, platform) {
                (None, _) => true,
                (Some(want), Some(p)) => rbuild_oci::platform::normalize(p) == *want,
                (Some(_), None) => false,
            })
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect();
        (!map.is_empty()).then_some(map)
    }

    /// Refuses index annotations when the build makes `images` images (one: no index).
    pub fn check(&self, images: usize) -> Result<(), AnnotationError> {
        let index_kind = |a: &&Annotation| {
            matches!(
                a.target,
                AnnotationTarget::Index | AnnotationTarget::IndexDescriptor
            )
        };
        match self.0.iter().find(index_kind) {
            Some(a) if images < 2 => Err(AnnotationError::NoIndex { key: a.key.clone() }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
