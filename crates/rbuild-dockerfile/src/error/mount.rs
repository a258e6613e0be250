//! Errors of `RUN --mount=` values.

use super::ExpandError;
use crate::instructions::MountKind;

/// A malformed `--mount` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// `--mount=` with nothing after it.
    #[error("empty mount specification")]
    Empty,
    /// A quoted CSV field not closed, or followed by more text.
    #[error("extraneous or missing \" in quoted-field: {spec}")]
    QuotedField {
        /// The whole mount value.
        spec: String,
    },
    /// A `"` inside an unquoted CSV field.
    #[error("bare \" in non-quoted-field: {spec}")]
    BareQuote {
        /// The whole mount value.
        spec: String,
    },
    /// `from=` holding a variable (BuildKit needs the stage before expansion).
    #[error("'{key}' doesn't support variable expansion, define alias stage instead")]
    FromVariable {
        /// The key (`from`).
        key: String,
    },
    /// A key no mount type knows.
    #[error("unexpected key '{key}' in '{field}'")]
    UnexpectedKey {
        /// The key, lower-cased.
        key: String,
        /// The `key=value` field as written.
        field: String,
    },
    /// A key the mount's type does not take (`size` on a bind mount).
    #[error("unexpected key '{key}' for mount type '{}'", .kind.name())]
    KeyNotForType {
        /// The key, lower-cased.
        key: String,
        /// The mount's type.
        kind: MountKind,
    },
    /// `sharing=` given twice.
    #[error("sharing specified multiple times")]
    SharingTwice,
    /// `sharing=` other than shared, private or locked.
    #[error("unsupported sharing value {value:?}")]
    InvalidSharing {
        /// The value as written.
        value: String,
    },
    /// `sharing=` on a mount that is not a cache.
    #[error("invalid cache sharing set for {} mount", .kind.name())]
    SharingNotCache {
        /// The mount's type.
        kind: MountKind,
    },
    /// `from=` on a secret mount.
    #[error("secret mount should not have a from")]
    SecretFrom,
    /// A bind, cache or tmpfs mount without `target=`.
    #[error("mount type={} requires a target", .kind.name())]
    NoTarget {
        /// The mount's type.
        kind: MountKind,
    },
    /// `type=` other than bind, cache, tmpfs, secret or ssh.
    #[error("unsupported mount type {value:?}")]
    UnsupportedType {
        /// The value as written.
        value: String,
    },
    /// A boolean key whose value Go's `strconv.ParseBool` refuses.
    #[error("invalid boolean value {value:?}")]
    InvalidBool {
        /// The value as written.
        value: String,
    },
    /// `size=` that is not a size.
    #[error("invalid size: {value:?}")]
    InvalidSize {
        /// The value as written.
        value: String,
    },
    /// `mode=` (octal), `uid=` or `gid=` that is not a number.
    #[error("invalid {key} {value:?}")]
    InvalidNumber {
        /// `mode`, `uid` or `gid`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// A value whose variables do not expand.
    #[error(transparent)]
    Expand(ExpandError),
}
