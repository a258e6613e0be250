//! Choosing the manifest for a platform out of an index (pure).

use crate::{media_type, Descriptor, Platform};

/// A platform string that is not `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {spec:?}: expected os/arch[/variant], e.g. linux/amd64")]
pub struct PlatformError {
    /// The text as given.
    pub spec: String,
}

/// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`), normalized as containerd does
/// (`linux/aarch64` is `linux/arm64`, `linux/arm64/v8` is `linux/arm64`, `linux/arm` is
/// `linux/arm/v7`).
pub fn parse(spec: &str) -> Result<Platform, PlatformError> {
    let ok = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let parts: Vec<&str> = spec.trim().split('/').collect();
    let p = match parts.as_slice() {
        [os, arch] if ok(os) && ok(arch) => Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        },
        [os, arch, v] if ok(os) && ok(arch) && ok(v) => Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(v.to_string()),
        },
        _ => {
            return Err(PlatformError {
                spec: spec.to_string(),
            })
        }
    };
    Ok(normalize(&p))
}

/// Normalizes architecture aliases and default variants so that equal platforms compare equal.
pub fn normalize(p: &Platform) -> Platform {
    let (arch, implied_variant) = match p.architecture.as_str() {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" | "i686" => ("386", None),
        other => (other, None),
    };
    let variant = p
        .variant
        .as_deref()
        .or(implied_variant)
        .map(str::to_string)
        .or_else(|| default_variant(arch).map(str::to_string))
        .filter(|v| !(arch == "arm64" && v == "v8"));
    Platform {
        architecture: arch.to_string(),
        os: p.os.to_ascii_lowercase(),
        variant,
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm" => Some("v7"),
        _ => None,
    }
}

/// How well `have` serves a request for `want`; `None` when it cannot run there. Higher is better.
fn score(want: &Platform, have: &Platform) -> Option<u32> {
    let (want, have) = (normalize(want), normalize(have));
    if want.os != have.os || want.architecture != have.architecture {
        return None;
    }
    if want.variant == have.variant {
        return Some(100);
    }
    // An older ARM variant runs on a newer CPU (v7 runs v6 and v5 code); prefer the closest.
    let num = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| s.strip_prefix('v'))
            .and_then(|n| n.parse::<u32>().ok())
    };
    match (num(&want.variant), num(&have.variant)) {
        (Some(w), Some(h)) if h < w && want.architecture == "arm" => Some(50 - (w - h)),
        // amd64 levels: a plain amd64 request can use an image marked v1 only.
        (None, Some(1)) => Some(90),
        (Some(w), None) if want.architecture == "amd64" && w >= 1 => Some(80),
        _ => None,
    }
}

/// Picks the manifest for `want` from an index's entries, skipping attestations and non-images.
pub fn select<'a>(manifests: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let images = manifests
        .iter()
        .filter(|d| media_type::is_manifest(&d.media_type) || d.media_type.is_empty());
    let best = images
        .clone()
        .filter_map(|d| Some((score(want, d.platform.as_ref()?)?, d)))
        .fold(None::<(u32, &Descriptor)>, |acc, (s, d)| match acc {
            Some((best, _)) if best >= s => acc,
            _ => Some((s, d)),
        });
    if let Some((_, d)) = best {
        return Some(d);
    }
    // An index without platform information and one image: that image is the answer.
    let mut unplatformed = images.filter(|d| d.platform.is_none());
    match (unplatformed.next(), unplatformed.next()) {
        (Some(d), None) if manifests.iter().all(|m| m.platform.is_none()) => Some(d),
        _ => None,
    }
}

/// The platforms an index offers, for error messages.
pub fn available(manifests: &[Descriptor]) -> String {
    let list: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(Platform::to_spec)
        .collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    fn plat(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn parses_and_normalizes_as_containerd() {
        assert_eq!(parse("linux/arm64").unwrap(), plat("linux", "arm64", None));
        assert_eq!(
            parse("linux/arm64/v8").unwrap(),
            plat("linux", "arm64", None)
        );
        assert_eq!(
            parse("linux/aarch64").unwrap(),
            plat("linux", "arm64", None)
        );
        assert_eq!(
            parse("linux/arm").unwrap(),
            plat("linux", "arm", Some("v7"))
        );
        assert_eq!(parse("linux/x86_64").unwrap(), plat("linux", "amd64", None));
        for bad in ["", "linux", "linux/", "a/b/c/d", "linux/am d64"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    fn desc(n: u8, p: Option<Platform>) -> Descriptor {
        let mut d = Descriptor::new(media_type::OCI_MANIFEST, Digest::of(&[n]), 1);
        d.platform = p;
        d
    }

    #[test]
    fn picks_exact_then_compatible() {
        let list = vec![
            desc(0, Some(plat("unknown", "unknown", None))),
            desc(1, Some(plat("linux", "amd64", None))),
            desc(2, Some(plat("linux", "arm64", Some("v8")))),
            desc(3, Some(plat("linux", "arm", Some("v6")))),
            desc(4, Some(plat("linux", "arm", Some("v7")))),
        ];
        let pick = |p: Platform| select(&list, &p).map(|d| d.digest.clone());
        assert_eq!(
            pick(plat("linux", "amd64", None)),
            Some(list[1].digest.clone())
        );
        assert_eq!(
            pick(plat("linux", "aarch64", None)),
            Some(list[2].digest.clone())
        );
        assert_eq!(
            pick(plat("linux", "arm", None)),
            Some(list[4].digest.clone())
        );
        assert_eq!(
            pick(plat("linux", "arm", Some("v6"))),
            Some(list[3].digest.clone())
        );
        assert_eq!(
            pick(plat("linux", "arm", Some("v8"))),
            Some(list[4].digest.clone())
        );
        assert_eq!(pick(plat("linux", "s390x", None)), None);
        assert_eq!(pick(plat("windows", "amd64", None)), None);
        assert_eq!(
            available(&list),
            "linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7"
        );
    }

    #[test]
    fn single_unplatformed_entry_is_taken() {
        let list = vec![desc(1, None)];
        assert!(select(&list, &plat("linux", "amd64", None)).is_some());
        let two = vec![desc(1, None), desc(2, None)];
        assert!(select(&two, &plat("linux", "amd64", None)).is_none());
    }
}
