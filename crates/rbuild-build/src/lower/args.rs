//! Build arguments: the global scope, built-in platform args, proxy args, unused-arg warnings.

use std::collections::BTreeMap;

use rbuild_dockerfile::{Dockerfile, Lexer};
use rbuild_oci::Platform;

use super::Shared;
use crate::{BuildError, BuildRequest};

/// Build arguments in scope: name → value.
pub type ArgScope = BTreeMap<String, String>;

/// Proxy args: usable without ARG, never written to history or cache keys.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The automatic platform args: `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`
/// for `target`, and the `BUILD*` ones for `build`, the platform the build runs on.
pub fn builtin_args(target: &Platform, build: &Platform) -> ArgScope {
    let mut m = BTreeMap::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        m.insert(format!("{prefix}PLATFORM"), p.to_spec());
        m.insert(format!("{prefix}OS"), p.os.clone());
        m.insert(format!("{prefix}ARCH"), p.architecture.clone());
        m.insert(
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        );
    }
    m
}

/// ARGs declared before the first FROM, with `--build-arg` overrides, plus the built-ins.
pub fn global_args(
    df: &Dockerfile,
    req: &BuildRequest,
    target: &Platform,
    lexer: &Lexer,
    warnings: &mut Vec<String>,
) -> Result<ArgScope, BuildError> {
    let mut scope = builtin_args(target, &req.build_platform);
    // BuildKit's TARGETSTAGE: the --target as given, else the last stage's name, else
    // "default"; --build-arg overrides every built-in (dockerfile2llb defaultArgs).
    let last = df.stages.last().and_then(|s| s.name.clone());
    let stage = req.target.clone().or(last).filter(|s| !s.is_empty());
    scope.insert(
        "TARGETSTAGE".to_string(),
        stage.unwrap_or_else(|| "default".to_string()),
    );
    for (k, v) in scope.iter_mut() {
        if let Some(given) = req.build_args.get(k) {
            v.clone_from(given);
        }
    }
    for decl in &df.meta_args {
        if super::lint::looks_secret(&decl.name) {
            warnings.push(super::lint::secret_warning("ARG", &decl.name, None));
        }
        let value = match (req.build_args.get(&decl.name), &decl.default) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(d)) => Some(
                lexer
                    .expand_word(d, &scope)
                    .map_err(|e| BuildError::expand(None, e))?,
            ),
            (None, None) => None,
        };
        if let Some(v) = value {
            scope.insert(decl.name.clone(), v);
        }
    }
    Ok(scope)
}

/// SOURCE_DATE_EPOCH from the Dockerfile's global `ARG SOURCE_DATE_EPOCH=<seconds>` when no
/// build arg sets it: BuildKit resolves the epoch from the global args as well
/// (dockerfile2llb getBuildArgValue; a value that is not a number of seconds is refused with
/// its words, an empty one sets nothing).
pub fn dockerfile_epoch(df: &Dockerfile, req: &BuildRequest) -> Result<Option<i64>, BuildError> {
    let lexer = Lexer::new(df.directives.escape);
    let platform = req
        .platforms
        .first()
        .cloned()
        .unwrap_or_else(Platform::host);
    let scope = global_args(df, req, &platform, &lexer, &mut Vec::new())?;
    let Some(v) = scope.get("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(seconds) = v.parse::<i64>() {
        return Ok(Some(seconds));
    }
    // A context fetched from a URL dates itself, as in BuildKit.
    if let Some(t) = req.context_epochs.get(v.as_str()) {
        return Ok(Some(*t));
    }
    // BuildKit also takes the epoch from `context` or from a stage's sources; rbuild does not,
    // and says so rather than calling the value invalid.
    let stage = df
        .stages
        .iter()
        .any(|s| s.name.as_deref() == Some(&v.to_lowercase()));
    if stage || v.eq_ignore_ascii_case("context") {
        return Err(BuildError::Unsupported(format!(
            "SOURCE_DATE_EPOCH={v}: taking the epoch from the context or a stage is not \
             supported; give a number of seconds"
        )));
    }
    Err(BuildError::general(format!(
        "invalid SOURCE_DATE_EPOCH: {v}"
    )))
}

/// Records the warning BuildKit gives for build args nothing declared.
pub fn warn_unused(shared: &mut Shared) {
    let declared: Vec<&String> = shared.input.request.build_args.keys().collect();
    let unused: Vec<String> = declared
        .into_iter()
        .filter(|k| !shared.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .filter(|k| {
            !shared
                .input
                .dockerfile
                .meta_args
                .iter()
                .any(|a| &a.name == *k)
        })
        .cloned()
        .collect();
    if !unused.is_empty() {
        shared.warnings.push(format!(
            "one or more build-args [{}] were not consumed",
            unused.join(" ")
        ));
    }
}

/// ARG inside a stage: `--build-arg` over the default over the global value of the same name.
pub(crate) fn declare(
    shared: &mut Shared,
    st: &mut super::state::StageState,
    decls: &[rbuild_dockerfile::ArgDecl],
    ins: &rbuild_dockerfile::Instruction,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let mut text = String::from("ARG");
    for decl in decls {
        if super::lint::looks_secret(&decl.name) {
            let w = super::lint::secret_warning("ARG", &decl.name, Some(line));
            shared.warnings.push(w);
        }
        let value = if let Some(v) = shared.input.request.build_args.get(&decl.name) {
            shared.used_args.insert(decl.name.clone());
            Some(v.clone())
        } else if let Some(d) = &decl.default {
            let env = st.expansion_env();
            Some(
                shared
                    .lexer
                    .expand_word(d, &env)
                    .map_err(|e| BuildError::expand(Some(line), e))?,
            )
        } else {
            shared.globals.get(&decl.name).cloned()
        };
        // BuildKit's history: `ARG k=v` with the value the ARG took, `ARG k` without one;
        // except that a credential-like name (`NPM_TOKEN`) shows no value (issue 14: its
        // value never reaches the image config or the store), as in `history::run`.
        text.push(' ');
        text.push_str(&decl.name);
        if let Some(v) = &value {
            text.push('=');
            match super::lint::looks_secret(&decl.name) {
                true => text.push_str(super::history::REDACTED),
                false => text.push_str(v),
            }
        }
        st.out.args.declare(&decl.name, value);
    }
    super::meta::record(st, &text);
    Ok(())
}
