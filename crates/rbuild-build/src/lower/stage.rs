//! Lowering one stage: its base, ONBUILD triggers of the base, then each instruction.

use rbuild_dockerfile::{expand_command, parse_trigger, Command, Instruction};

use super::state::StageState;
use super::{base, fs, meta, run, workdir, Shared, StageOut};
use crate::error::StepLocation;
use crate::plan::StepMeta;
use crate::progress::StepInfo;
use crate::BuildError;

impl Shared<'_> {
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
                line: Some(line),
                instruction: text.to_string(),
            },
            identity: st.identity(),
        }
    }
}

/// Lowers stage `index`.
pub(crate) fn lower_stage(shared: &mut Shared, index: usize) -> Result<StageOut, BuildError> {
    let stage = &shared.input.dockerfile.stages[index];
    let mut st = base::start(shared, index)?;
    st.reindex_env();
    let triggers = st.out.config.config.on_build.take().unwrap_or_default();
    let escape = shared.input.dockerfile.directives.escape;
    for t in triggers {
        let mut ins = parse_trigger(&t, escape)?;
        ins.location = stage.location;
        super::from::check_copy_from(&ins, &shared.lexer)?;
        dispatch(shared, &mut st, &ins)?;
    }
    for ins in &stage.instructions {
        dispatch(shared, &mut st, ins)?;
    }
    Ok(st.out)
}

fn dispatch(shared: &mut Shared, st: &mut StageState, ins: &Instruction) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if let Command::Arg(decls) = &ins.command {
        return super::args::declare(shared, st, decls, ins);
    }
    let env = st.expansion_env();
    let cmd = expand_command(&ins.command, &shared.lexer, &env)
        .map_err(|e| BuildError::expand(Some(line), e))?;
    match cmd {
        Command::Run(run) => run::run(shared, st, ins, run),
        Command::Copy(copy) => fs::copy(shared, st, ins, copy),
        Command::Add(add) => fs::add(shared, st, ins, add),
        Command::Workdir(dir) => workdir::workdir(shared, st, ins, &dir),
        other => meta::apply(st, ins, other, &mut shared.warnings),
    }
}
