//! `RUN --mount=` values, read as BuildKit reads them (`instructions/commands_runmount.go`).
//!
//! BuildKit reads a mount twice: when the Dockerfile is parsed it only splits the CSV and
//! refuses a `from=` holding a variable (the stage graph needs it); everything else is read
//! after the values are expanded, when the stage is built. rbuild does the same through
//! [`parse_mount_raw`] and [`parse_mount_expanded`], except that a mount whose values
//! cannot change by expansion is checked fully at parse time already (same errors, earlier).

mod check;
mod keys;
mod resolve;
mod values;

use super::{MountKind, RunMount};
use crate::error::{Error, ExpandError, MountError};
use values::csv_fields;

/// Turns a raw value into the value BuildKit reads (shell-word expansion, or none).
pub(crate) type Expand<'a> = dyn FnMut(&str) -> Result<String, ExpandError> + 'a;

/// A mount being read: the fields so far, and whether `ro`/`rw` was given.
struct Builder {
    mount: RunMount,
    ro_auto: bool,
}

/// Parses one `--mount` value as written (no expansion), with every check BuildKit makes.
pub fn parse_mount(spec: &str) -> Result<RunMount, Error> {
    let fields = csv_fields(spec).map_err(Error::new)?;
    read_all(&fields, &mut |v| Ok(v.to_string())).map_err(Error::new)
}

/// Parse time. A spec whose values hold `$`, quotes or escapes gives a provisional mount:
/// such values stay as written, fields that do not read are left at their defaults, and
/// nothing else is refused until [`parse_mount_expanded`] reads the expanded values.
pub(crate) fn parse_mount_raw(spec: &str) -> Result<RunMount, MountError> {
    let fields = csv_fields(spec)?;
    for field in &fields {
        if let Some((key, value)) = field.split_once('=') {
            let variable = value.find('$').is_some_and(|i| i != value.len() - 1);
            if variable && key.to_lowercase() == "from" {
                return Err(MountError::FromVariable { key: "from".into() });
            }
        }
    }
    let identity = &mut |v: &str| Ok(v.to_string());
    if !fields.iter().any(|f| expandable(f)) {
        return read_all(&fields, identity);
    }
    let mut b = Builder::new();
    for field in &fields {
        // Errors here may vanish once the values are expanded; they are raised then.
        let _ = b.field(field, identity);
    }
    b.apply_defaults();
    Ok(b.mount)
}

/// After expansion: every value passes through `expand`, then BuildKit's checks apply.
pub(crate) fn parse_mount_expanded(
    spec: &str,
    expand: &mut Expand<'_>,
) -> Result<RunMount, MountError> {
    read_all(&csv_fields(spec)?, expand)
}

fn read_all(fields: &[String], expand: &mut Expand<'_>) -> Result<RunMount, MountError> {
    let mut b = Builder::new();
    for field in fields {
        b.field(field, expand)?;
    }
    b.finish()
}

/// Whether expansion could change the field's value: variables, quotes, escapes (either
/// escape character, whatever the `# escape=` directive says).
fn expandable(field: &str) -> bool {
    field
        .split_once('=')
        .is_some_and(|(_, v)| v.contains(['$', '\'', '"', '\\', '`']))
}

impl Builder {
    fn new() -> Self {
        Builder {
            mount: RunMount {
                kind: MountKind::Bind,
                target: None,
                source: None,
                from: None,
                id: None,
                sharing: None,
                readonly: false,
                required: false,
                mode: None,
                uid: None,
                gid: None,
                size: None,
                env: None,
            },
            ro_auto: true,
        }
    }
}

impl MountKind {
    /// The `type=` value naming this kind.
    pub fn name(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}
