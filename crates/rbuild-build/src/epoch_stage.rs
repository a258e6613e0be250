//! `ARG SOURCE_DATE_EPOCH=<stage>`, as BuildKit resolves it (`dockerfile2llb/epoch.go`): the
//! stage may hold only ARGs and exactly one ADD of one remote source (an http(s) URL or a Git
//! URL), which is fetched to date the build: the commit time, the `Last-Modified`, or the
//! newest file of the archive.

use rbuild_context::git::Transport;
use rbuild_context::remote::{ProxyConfig, UrlFetcher};
use rbuild_context::remote_context::{self, ContextUrl};
use rbuild_dockerfile::{Command, Dockerfile, Lexer};
use rbuild_oci::Platform;
use rbuild_store::Store;

use crate::{BuildError, BuildRequest};

/// The stage named by the Dockerfile's global `SOURCE_DATE_EPOCH`, if it names one.
fn epoch_stage<'a>(
    df: &'a Dockerfile,
    req: &BuildRequest,
    lexer: &Lexer,
) -> Result<Option<(&'a rbuild_dockerfile::Stage, crate::lower::ArgScope)>, BuildError> {
    let platform = req
        .platforms
        .first()
        .cloned()
        .unwrap_or_else(Platform::host);
    let scope = crate::lower::global_args(df, req, &platform, lexer, &mut Vec::new())?;
    let Some(v) = scope.get("SOURCE_DATE_EPOCH") else {
        return Ok(None);
    };
    // A named context of that name comes first, as in BuildKit.
    if req.context_epochs.contains_key(v) {
        return Ok(None);
    }
    let v = v.to_lowercase();
    let stage = df.stages.iter().find(|s| s.name.as_deref() == Some(&v));
    Ok(stage.map(|s| (s, scope)))
}

/// The one remote source of the stage, with BuildKit's errors for anything else.
fn stage_source(
    stage: &rbuild_dockerfile::Stage,
    mut scope: crate::lower::ArgScope,
    req: &BuildRequest,
    lexer: &Lexer,
) -> Result<ContextUrl, BuildError> {
    let one = || BuildError::general("SOURCE_DATE_EPOCH stage must contain exactly one remote ADD");
    let mut source = None;
    for ins in &stage.instructions {
        let expand = |w: &str, scope: &crate::lower::ArgScope| {
            lexer
                .expand_word(w, scope)
                .map_err(|e| BuildError::at(ins.location.start_line, e.to_string()))
        };
        match &ins.command {
            Command::Arg(decls) => {
                for d in decls {
                    let value = match (req.build_args.get(&d.name), &d.default) {
                        (Some(v), _) => v.clone(),
                        (None, Some(def)) => expand(def, &scope)?,
                        (None, None) => continue,
                    };
                    scope.insert(d.name.clone(), value);
                }
            }
            Command::Add(add) if source.is_none() => {
                if add.sources.len() != 1 || !add.heredocs.is_empty() {
                    return Err(BuildError::general(
                        "SOURCE_DATE_EPOCH stage must contain exactly one remote ADD source",
                    ));
                }
                let src = expand(&add.sources[0], &scope)?;
                let url = remote_context::classify(&src)
                    .map_err(|e| BuildError::at(ins.location.start_line, e.to_string()))?
                    .ok_or_else(|| {
                        BuildError::general(format!(
                            "SOURCE_DATE_EPOCH stage source must be a remote ADD, got {src:?}"
                        ))
                    })?;
                source = Some(url);
            }
            Command::Add(_) => return Err(one()),
            other => {
                return Err(BuildError::general(format!(
                    "SOURCE_DATE_EPOCH stage does not meet source-only requirements: \
                     unsupported {} instruction",
                    instruction_name(other)
                )))
            }
        }
    }
    source.ok_or_else(one)
}

fn instruction_name(c: &Command) -> String {
    let debug = format!("{c:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    name.to_lowercase()
}

/// The epoch `ARG SOURCE_DATE_EPOCH=<stage>` resolves to (inner `None`: the source has no
/// date); `None` when it names no stage.
pub(crate) fn resolve(
    df: &Dockerfile,
    req: &BuildRequest,
    store: &Store,
    fetcher: &dyn UrlFetcher,
) -> Result<Option<Option<i64>>, BuildError> {
    let lexer = Lexer::new(df.directives.escape);
    let Some((stage, scope)) = epoch_stage(df, req, &lexer)? else {
        return Ok(None);
    };
    let url = stage_source(stage, scope, req, &lexer)?;
    let dir = store.scratch()?;
    let args = req.build_args.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let proxy = ProxyConfig::from_vars(args);
    let got = remote_context::fetch(&url, dir.path(), &Transport::default(), fetcher, &proxy)
        .map_err(|e| BuildError::general(format!("SOURCE_DATE_EPOCH stage: {e}")))?;
    Ok(Some(got.epoch))
}
