//! Errors of `RUN --mount=` values, worded as BuildKit words them
//! (`frontend/dockerfile/instructions/commands_runmount.go` and, for the errors found when a
//! mount is placed, `dockerfile2llb/convert_runmount.go` and `convert_ssh.go`).

use super::ExpandError;
use crate::dump::go_quote;
use crate::instructions::MountKind;
use crate::suggest::hint;

/// A malformed `--mount` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// `--mount=` with nothing after it (Go's CSV reader reports end of input).
    #[error("failed to parse csv mounts: EOF")]
    Empty,
    /// A quoted CSV field not closed, or followed by more text.
    #[error(
        "failed to parse csv mounts: parse error on line 1, column {column}: \
         extraneous or missing \" in quoted-field"
    )]
    QuotedField {
        /// 1-based byte column of the offending quote (or of the end).
        column: usize,
    },
    /// A `"` inside an unquoted CSV field.
    #[error(
        "failed to parse csv mounts: parse error on line 1, column {column}: \
         bare \" in non-quoted-field"
    )]
    BareQuote {
        /// 1-based byte column of the quote.
        column: usize,
    },
    /// `from=` holding a variable (the stage must be known before expansion).
    #[error("'{key}' doesn't support variable expansion, define alias stage instead")]
    FromVariable {
        /// The key (`from`).
        key: String,
    },
    /// A field without `=` other than `ro`, `rw`, `readonly`, `readwrite`, `required`.
    #[error("invalid field '{field}' must be a key=value pair")]
    NotKeyValue {
        /// The field as written.
        field: String,
    },
    /// A key no mount type knows.
    #[error("unexpected key '{key}' in '{field}'{}", hint(.suggestion))]
    UnexpectedKey {
        /// The key, lower-cased.
        key: String,
        /// The `key=value` field as written.
        field: String,
        /// The known key within two edits, if any.
        suggestion: Option<String>,
    },
    /// `required` or `size` on a mount whose type (so far) does not take it.
    #[error("unexpected key '{key}' for mount type '{}'", .kind.name())]
    KeyNotForType {
        /// The key, lower-cased.
        key: String,
        /// The mount's type when the key was read.
        kind: MountKind,
    },
    /// `mode`, `uid` or `gid` on a bind or tmpfs mount.
    #[error("{key} not allowed for \"{}\" type mounts", .kind.name())]
    FileInfoNotAllowed {
        /// `mode`, `uid` or `gid`.
        key: &'static str,
        /// The mount's type.
        kind: MountKind,
    },
    /// `sharing=` other than shared, private or locked.
    #[error("unsupported sharing value {}{}", go_quote(.value), hint(.suggestion))]
    InvalidSharing {
        /// The value as written.
        value: String,
        /// The sharing mode within two edits, if any.
        suggestion: Option<String>,
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
    /// `sharing=` on a secret mount.
    #[error("secret mount should not define sharing")]
    SecretSharing,
    /// A secret mount with none of `source`, `target`, `id`.
    #[error("invalid secret mount. one of source, target required")]
    SecretUnnamed,
    /// A secret mount with both `source` and `id`.
    #[error("both source and id can't be set")]
    SecretSourceAndId,
    /// `source=` on an ssh mount (found when the mount is placed).
    #[error("ssh does not support source")]
    SshSource,
    /// A bind, cache or tmpfs mount whose target, joined to the WORKDIR, is `/`.
    #[error("invalid mount target {}", go_quote(.target))]
    InvalidTarget {
        /// The target after joining.
        target: String,
    },
    /// `type=` other than bind, cache, tmpfs, secret or ssh.
    #[error("unsupported mount type {}{}", go_quote(.value), hint(.suggestion))]
    UnsupportedType {
        /// The value as written.
        value: String,
        /// The mount type within two edits, if any.
        suggestion: Option<String>,
    },
    /// A boolean key whose value Go's `strconv.ParseBool` refuses.
    #[error("invalid value for {key}: {value}")]
    InvalidBool {
        /// The key as written, lower-cased (`ro`, `readwrite`, `required`, ...).
        key: String,
        /// The value as written.
        value: String,
    },
    /// `size=` that is not a size.
    #[error("invalid value for size: {value}")]
    InvalidSize {
        /// The value as written.
        value: String,
    },
    /// `mode=` (octal), `uid=` or `gid=` that is not a 32-bit number.
    #[error("invalid value {value} for {key}")]
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
