//! `[gc]` (or `gc = false`): the store's garbage collection after each successful build.

use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::units;

/// Garbage collection after builds: off, or this policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gc {
    /// `gc = false`: builds never prune.
    Off,
    /// `[gc]`: prune unreferenced records older than `keep_duration`, then the oldest until
    /// the store holds at most `keep_storage`.
    Policy(GcPolicy),
}

/// What a build leaves behind: the limits of `[gc]`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GcPolicy {
    /// Blobs and snapshots beyond this many bytes are removed, oldest first.
    #[serde(default, deserialize_with = "units::size")]
    pub keep_storage: Option<u64>,
    /// Unreferenced blobs and snapshots older than this are removed.
    #[serde(default, deserialize_with = "units::duration")]
    pub keep_duration: Option<Duration>,
}

impl Gc {
    /// `later` wins: `gc = false` turns it off, a table turns it on and replaces key by key.
    pub(crate) fn merge(self, later: Gc) -> Gc {
        match (self, later) {
            (Gc::Policy(mut a), Gc::Policy(b)) => {
                a.keep_storage = b.keep_storage.or(a.keep_storage);
                a.keep_duration = b.keep_duration.or(a.keep_duration);
                Gc::Policy(a)
            }
            (_, later) => later,
        }
    }

    /// The policy to apply, if any.
    pub fn policy(&self) -> Option<&GcPolicy> {
        match self {
            Gc::Off => None,
            Gc::Policy(p) => Some(p),
        }
    }
}

impl<'de> Deserialize<'de> for Gc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Gc, D::Error> {
        d.deserialize_any(GcVisitor)
    }
}

/// `gc = false` or a `[gc]` table; the table goes through `GcPolicy`'s own derive so its
/// unknown keys are named.
struct GcVisitor;

impl<'de> Visitor<'de> for GcVisitor {
    type Value = Gc;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("false, or a table with keep-storage and keep-duration")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Gc, E> {
        match v {
            false => Ok(Gc::Off),
            // Without limits there is nothing to apply: a switch that does nothing is refused.
            true => Err(E::custom(
                "gc = true sets no limit: write a [gc] table with keep-storage and/or \
                 keep-duration",
            )),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Gc, A::Error> {
        GcPolicy::deserialize(de::value::MapAccessDeserializer::new(map)).map(Gc::Policy)
    }
}
