//! Lowering one stage: its base, ONBUILD triggers of the base, then each instruction.

use std::collections::{BTreeMap, HashMap};

use rbuild_dockerfile::{expand_command, parse_trigger, Command, Env, Instruction};
use rbuild_solver::VertexId;

use super::{fs, meta, select, workdir, Shared, StageOut};
use crate::error::StepLocation;
use crate::image::HistorySlot;
use crate::ops::{BaseOp, BuildOp, StepMeta};
use crate::progress::StepInfo;
use crate::resolve::BaseImage;
use crate::BuildError;

/// Docker's default PATH, set when a base image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The state of a stage being lowered.
pub(crate) struct StageState {
    pub index: usize,
    pub name: String,
    pub total: usize,
    pub position: usize,
    pub out: StageOut,
    /// ARGs declared in this stage: `None` = declared without a value.
    pub args: BTreeMap<String, Option<String>>,
    /// Whether CMD was set in this stage (ENTRYPOINT resets an inherited CMD otherwise).
    pub cmd_set: bool,
    /// Position of each ENV key in the config's env list.
    pub env_index: HashMap<String, usize>,
}

/// The variables an instruction of a stage expands with (see [`StageState::expansion_env`]).
pub(crate) struct Vars<'a> {
    st: &'a StageState,
}

impl Env for Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.st.env_value(name) {
            Some(v) => Some(v.to_string()),
            None => self.st.args.get(name).cloned().flatten(),
        }
    }
}

impl StageState {
    /// Variables for expansion: stage ARGs overlaid by ENV (ENV wins, as in Docker). A view,
    /// not a copy: building a map per instruction made 10,000 ENV lines quadratic.
    pub fn expansion_env(&self) -> Vars<'_> {
        Vars { st: self }
    }

    /// The value of ENV `key` in the config, if set.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        let env = self.out.config.config.env.as_deref()?;
        let kv = env.get(*self.env_index.get(key)?)?;
        Some(kv.split_once('=').map_or("", |(_, v)| v))
    }

    /// Sets ENV `key=value`, replacing an existing entry in place (its position is kept).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.out.config.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match self.env_index.get(key) {
            Some(&i) if i < env.len() => env[i] = entry,
            _ => {
                self.env_index.insert(key.to_string(), env.len());
                env.push(entry);
            }
        }
    }

    /// Rebuilds the ENV index after the config was replaced (a new base or parent stage).
    pub fn reindex_env(&mut self) {
        self.env_index.clear();
        for (i, kv) in self.out.config.config.env.iter().flatten().enumerate() {
            let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
            self.env_index.insert(key.to_string(), i);
        }
    }

    /// Stage identity for cache explanations.
    pub fn identity(&self) -> String {
        format!("stage {} step {}", self.index, self.position)
    }
}

impl Shared<'_> {
    /// Adds a vertex, remembering its stage.
    pub fn add(&mut self, op: BuildOp, inputs: Vec<VertexId>, stage: &str) -> VertexId {
        self.vertex_stage.push(stage.to_string());
        self.graph.add(op, inputs)
    }

    /// The step metadata for the next instruction of `st`.
    pub fn step(&mut self, st: &mut StageState, line: usize, text: &str) -> StepMeta {
        st.position += 1;
        self.step_number += 1;
        let prefix = if st.name.is_empty() {
            String::new()
        } else {
            format!("{} ", st.name)
        };
        StepMeta {
            info: StepInfo {
                number: self.step_number,
                label: format!("[{prefix}{}/{}]", st.position, st.total),
                instruction: text.to_string(),
            },
            location: StepLocation {
                line,
                instruction: text.to_string(),
            },
            identity: st.identity(),
        }
    }
}

/// Lowers stage `index`.
pub(crate) fn lower_stage(shared: &mut Shared, index: usize) -> Result<StageOut, BuildError> {
    let stage = &shared.input.dockerfile.stages[index];
    let mut st = start(shared, index)?;
    st.reindex_env();
    let triggers = st.out.config.config.on_build.take().unwrap_or_default();
    let escape = shared.input.dockerfile.directives.escape;
    for t in triggers {
        let mut ins = parse_trigger(&t, escape)?;
        ins.location = stage.location;
        dispatch(shared, &mut st, &ins)?;
    }
    for ins in &stage.instructions {
        dispatch(shared, &mut st, ins)?;
    }
    Ok(st.out)
}

fn start(shared: &mut Shared, index: usize) -> Result<StageState, BuildError> {
    let stage = &shared.input.dockerfile.stages[index];
    let line = stage.location.start_line;
    let base = shared
        .lexer
        .expand_word(&stage.base, &shared.globals)
        .map_err(|e| BuildError::at(line, e.to_string()))?;
    let name = stage.name.clone().unwrap_or_default();
    let mut st = StageState {
        index,
        name,
        total: stage.instructions.len() + 1,
        position: 0,
        out: StageOut {
            vertex: VertexId(0),
            config: Default::default(),
            history: Vec::new(),
            fs_steps: 0,
            base_created: None,
        },
        args: BTreeMap::new(),
        cmd_set: false,
        env_index: HashMap::new(),
    };
    let text = format!("FROM {base}");
    let step = shared.step(&mut st, line, &text);
    if let Some(named) = shared.input.request.named_contexts.get(&base).cloned() {
        return super::named::named_base(shared, st, (&base, named), step, line);
    }
    if let Some(parent) = select::stage_ref(&shared.names, &base, index) {
        st.out = shared.outs[parent]
            .clone()
            .ok_or_else(|| BuildError::at(line, "stage used before it was built"))?;
        return Ok(st);
    }
    let image = resolve_image(shared, &base, line)?;
    st.out = from_image(shared, &mut st, image, step);
    Ok(st)
}

/// Resolves an image reference or `scratch`.
pub(crate) fn resolve_image(
    shared: &Shared,
    word: &str,
    line: usize,
) -> Result<BaseImage, BuildError> {
    if word.eq_ignore_ascii_case("scratch") {
        return Ok(BaseImage::scratch());
    }
    let input = shared.input;
    input
        .resolver
        .resolve(&input.runtime.store, word)?
        .ok_or_else(|| BuildError::BaseNotFound {
            line,
            image: word.to_string(),
        })
}

pub(super) fn from_image(
    shared: &mut Shared,
    st: &mut StageState,
    image: BaseImage,
    step: StepMeta,
) -> StageOut {
    let mut config = image.config.clone();
    let history = config.history.drain(..).map(HistorySlot::Base).collect();
    config.rootfs.diff_ids.clear();
    let env = config.config.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    let source = image
        .manifest
        .as_ref()
        .map_or("scratch".to_string(), |m| m.digest.to_string());
    let op = BuildOp::Base(BaseOp {
        step,
        source,
        fs: image.fs,
    });
    let vertex = shared.add(op, Vec::new(), &st.name.clone());
    StageOut {
        vertex,
        config,
        history,
        fs_steps: 0,
        base_created: image.config.created.clone(),
    }
}

fn dispatch(shared: &mut Shared, st: &mut StageState, ins: &Instruction) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if let Command::Arg(decls) = &ins.command {
        return super::args::declare(shared, st, decls, ins);
    }
    let env = st.expansion_env();
    let cmd = expand_command(&ins.command, &shared.lexer, &env)
        .map_err(|e| BuildError::at(line, e.to_string()))?;
    match cmd {
        Command::Run(run) => fs::run(shared, st, ins, run),
        Command::Copy(copy) => fs::copy(shared, st, ins, copy),
        Command::Add(add) => fs::add(shared, st, ins, add),
        Command::Workdir(dir) => workdir::workdir(shared, st, ins, &dir),
        other => meta::apply(st, ins, other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(env: &[&str]) -> StageState {
        let mut out = StageOut {
            vertex: VertexId(0),
            config: Default::default(),
            history: Vec::new(),
            fs_steps: 0,
            base_created: None,
        };
        out.config.config.env = Some(env.iter().map(|e| e.to_string()).collect());
        let mut st = StageState {
            index: 0,
            name: String::new(),
            total: 1,
            position: 0,
            out,
            args: BTreeMap::new(),
            cmd_set: false,
            env_index: HashMap::new(),
        };
        st.reindex_env();
        st
    }

    #[test]
    fn env_replaces_in_place_and_wins_over_args() {
        let mut st = state(&["A=1", "B=2"]);
        st.set_env("A", "3");
        st.set_env("C", "4");
        assert_eq!(
            st.out.config.config.env.as_deref().unwrap(),
            ["A=3", "B=2", "C=4"]
        );
        st.args.insert("C".into(), Some("arg".into()));
        st.args.insert("D".into(), Some("arg".into()));
        st.args.insert("E".into(), None);
        let vars = st.expansion_env();
        assert_eq!(vars.get("C").as_deref(), Some("4"));
        assert_eq!(vars.get("D").as_deref(), Some("arg"));
        assert_eq!(vars.get("E"), None);
        assert_eq!(vars.get("B").as_deref(), Some("2"));
    }
}
