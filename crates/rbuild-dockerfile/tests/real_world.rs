//! Public projects' Dockerfiles that use `RUN --mount` (issue 14; copies and their sources in
//! `testdata/real-world/README.md`) parse, and every mount expands and is placed as BuildKit
//! places it, with each ARG at its default (build args unset, platform linux/amd64).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rbuild_dockerfile::*;

type Vars = BTreeMap<String, String>;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/real-world")
}

/// Every `Dockerfile` and `*.Dockerfile` in the corpus.
fn dockerfiles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(corpus()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if name == "Dockerfile" || name.ends_with(".Dockerfile") {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

/// The platform ARGs BuildKit defines by itself, for a linux/amd64 build on linux/amd64.
fn automatic_args() -> Vars {
    let pairs = [
        ("PLATFORM", "linux/amd64"),
        ("OS", "linux"),
        ("ARCH", "amd64"),
    ];
    let mut vars = Vars::new();
    for prefix in ["TARGET", "BUILD"] {
        for (suffix, value) in pairs {
            vars.insert(format!("{prefix}{suffix}"), value.into());
        }
        vars.insert(format!("{prefix}VARIANT"), String::new());
    }
    vars
}

/// What a stage hands on to a stage built FROM it: its ENV and WORKDIR (ARGs stay behind).
#[derive(Debug, Clone)]
struct StageEnd {
    env: Vars,
    workdir: String,
}

/// One mount as the builder would place it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed {
    line: usize,
    kind: MountKind,
    from: Option<String>,
    readonly: bool,
    /// The path in the container (empty for an env-only secret).
    target: String,
    /// Cache id, secret id or ssh id; empty for bind and tmpfs.
    id: String,
}

/// A stage being walked: the variables RUN sees, and its working directory.
struct Walk<'a> {
    lexer: Lexer,
    globals: &'a Vars,
    args: Vars,
    end: StageEnd,
    placed: Vec<Placed>,
}

/// Parses `path` and places every mount of every stage.
fn place_all(path: &Path) -> Vec<Placed> {
    let text = std::fs::read_to_string(path).unwrap();
    let df = parse_dockerfile(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lexer = Lexer::new(df.directives.escape);
    let mut globals = automatic_args();
    for arg in &df.meta_args {
        if let Some(default) = &arg.default {
            let value = lexer.expand_word(default, &globals).unwrap();
            globals.insert(arg.name.clone(), value);
        }
    }
    let mut ends: BTreeMap<String, StageEnd> = BTreeMap::new();
    let mut placed = Vec::new();
    for stage in &df.stages {
        let base = lexer.expand_word(&stage.base, &globals).unwrap();
        let end = ends.get(&base.to_lowercase()).cloned().unwrap_or(StageEnd {
            env: Vars::new(),
            workdir: "/".into(),
        });
        let mut walk = Walk {
            lexer: Lexer::new(df.directives.escape),
            globals: &globals,
            args: Vars::new(),
            end,
            placed: Vec::new(),
        };
        for ins in &stage.instructions {
            walk.step(ins, &ends, path);
        }
        placed.append(&mut walk.placed);
        if let Some(name) = &stage.name {
            ends.insert(name.clone(), walk.end);
        }
    }
    placed
}

impl Walk<'_> {
    fn step(&mut self, ins: &Instruction, stages: &BTreeMap<String, StageEnd>, path: &Path) {
        let at = format!("{}:{}", path.display(), ins.location.start_line);
        // ENV wins over an ARG of the same name.
        let mut vars = self.args.clone();
        vars.extend(self.end.env.clone());
        let cmd = expand_command(&ins.command, &self.lexer, &vars)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        match cmd {
            Command::Arg(decls) => {
                for d in decls {
                    let value = d.default.or_else(|| self.globals.get(&d.name).cloned());
                    self.args.insert(d.name, value.unwrap_or_default());
                }
            }
            Command::Env(pairs) => {
                for kv in pairs {
                    self.end.env.insert(kv.key, kv.value);
                }
            }
            Command::Workdir(dir) => {
                self.end.workdir = match dir.starts_with('/') {
                    true => dir,
                    false => format!("{}/{dir}", self.end.workdir),
                }
            }
            Command::Run(run) => self.place(&run, ins.location.start_line, stages, &at),
            _ => {}
        }
    }

    fn place(&mut self, run: &RunCmd, line: usize, stages: &BTreeMap<String, StageEnd>, at: &str) {
        assert_eq!(run.mounts.len(), run.mount_specs.len(), "{at}");
        let mut ssh_index = 0;
        for m in &run.mounts {
            if let Some(from) = &m.from {
                assert!(
                    stages.contains_key(from),
                    "{at}: from={from} is no earlier stage"
                );
            }
            let (target, id) = match m.kind {
                MountKind::Bind | MountKind::Tmpfs => {
                    (m.target_in(&self.end.workdir), String::new())
                }
                MountKind::Cache => (m.target_in(&self.end.workdir), m.cache_id()),
                MountKind::Secret => (Ok(m.secret_target().unwrap_or_default()), m.secret_id()),
                MountKind::Ssh => {
                    ssh_index += 1;
                    (Ok(m.ssh_target(ssh_index - 1)), m.ssh_id().unwrap().into())
                }
            };
            let target = target.unwrap_or_else(|e| panic!("{at}: {e}"));
            self.placed.push(Placed {
                line,
                kind: m.kind,
                from: m.from.clone(),
                readonly: m.readonly,
                target,
                id,
            });
        }
    }
}

#[test]
fn every_real_world_dockerfile_parses_and_places_every_mount() {
    let files = dockerfiles();
    assert_eq!(files.len(), 8, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let written = text.matches("--mount=").count();
        let placed = place_all(&path);
        assert!(written > 0, "{}", path.display());
        assert_eq!(placed.len(), written, "{}", path.display());
    }
}

fn find(project: &str, line: usize) -> Vec<Placed> {
    let placed = place_all(&corpus().join(project).join("Dockerfile"));
    placed.into_iter().filter(|p| p.line == line).collect()
}

fn bind(line: usize, from: Option<&str>, readonly: bool, target: &str) -> Placed {
    Placed {
        line,
        kind: MountKind::Bind,
        from: from.map(String::from),
        readonly,
        target: target.into(),
        id: String::new(),
    }
}

fn cache(line: usize, target: &str, id: &str) -> Placed {
    Placed {
        line,
        kind: MountKind::Cache,
        from: None,
        readonly: false,
        target: target.into(),
        id: id.into(),
    }
}

/// `RUN --mount=from=binaries` (no target): the stage is mounted on the WORKDIR.
#[test]
fn a_mount_without_target_lands_on_the_workdir() {
    let m = find("buildkit", 215);
    assert_eq!(m[0], bind(215, Some("binaries"), true, "/work"));
    assert_eq!(m[1].target, "/tmp/.version");
    let m = find("buildx", 163);
    assert_eq!(m[0].from.as_deref(), Some("binaries"));
    assert!(m[0].target.starts_with('/'), "{:?}", m[0]);
}

/// `RUN --mount=ro --mount=type=cache,...`: a bare `ro` is a read-only bind of the context
/// on the WORKDIR, inherited here through `FROM build-${BASE_VARIANT}`.
#[test]
fn a_bare_ro_mount_is_the_context_read_only_on_the_workdir() {
    let m = find("cli", 111);
    assert_eq!(m[0], bind(111, None, true, "/go/src/github.com/docker/cli"));
    assert_eq!(m[1], cache(111, "/root/.cache", "/root/.cache"));
}

#[test]
fn relative_targets_join_the_workdir_and_variables_expand_in_ids() {
    let m = find("uv-docker-example", 24);
    assert_eq!(m[0], cache(24, "/root/.cache/uv", "/root/.cache/uv"));
    assert_eq!(m[1].target, "/app/uv.lock");
    // A relative cache target: placed under the WORKDIR, while the default id would be the
    // target as written; here the id is given, with a platform ARG in it.
    let m = find("moby", 224);
    let git = "/go/src/github.com/docker/cli/.git";
    assert_eq!(m[1], cache(224, git, "dockercli-git-linux/amd64"));
    assert_eq!(m[2].id, "dockercli-build-linux/amd64");
    let moby = place_all(&corpus().join("moby/Dockerfile"));
    let tini = moby.iter().find(|p| p.from.as_deref() == Some("tini-src"));
    assert!(
        tini.is_some_and(|p| !p.readonly && p.target.starts_with('/')),
        "{tini:?}"
    );
}
