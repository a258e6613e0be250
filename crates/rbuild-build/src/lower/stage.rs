//! Lowering one stage: its base, ONBUILD triggers of the base, then each instruction.

use rbuild_dockerfile::{expand_command, parse_trigger, Command, Instruction};

use super::state::StageState;
use super::{base, fs, meta, run, workdir, Shared, StageOut};
use crate::error::StepLocation;
use crate::plan::StepMeta;
use crate::progress::StepInfo;
use crate::BuildError;

impl Shared<'_> {
    /// The step metadata for the next counted step of `st` (RUN, COPY, ADD, WORKDIR, FROM an
    /// image), labelled as BuildKit's prefixCommand labels it: `[name 2/5]`, the stage named
    /// `stage-N` when unnamed (nothing when it is the only one), the number padded to the
    /// width of the total.
    pub fn step(&mut self, st: &mut StageState, line: usize, text: &str) -> StepMeta {
        st.position += 1;
        let name = super::select::stage_label(self.input.dockerfile, st.index);
        let prefix = if name.is_empty() { name } else { name + " " };
        let width = st.total.to_string().len();
        let label = format!("[{prefix}{:>width$}/{}]", st.position, st.total);
        self.meta_for(st, line, text, label)
    }

    /// The step metadata of a vertex BuildKit does not count (FROM scratch, an image read by
    /// `COPY --from`): labelled with the stage alone.
    pub fn uncounted_step(&mut self, st: &StageState, line: usize, text: &str) -> StepMeta {
        let name = super::select::stage_label(self.input.dockerfile, st.index);
        let label = format!("[{}]", if name.is_empty() { "base" } else { &name });
        self.meta_for(st, line, text, label)
    }

    fn meta_for(&mut self, st: &StageState, line: usize, text: &str, label: String) -> StepMeta {
        self.step_number += 1;
        StepMeta {
            info: StepInfo {
                number: self.step_number,
                label,
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

/// How many steps BuildKit counts in a stage's labels: RUN, COPY, ADD and WORKDIR (dispatch
/// counts WORKDIR even when it makes nothing), plus the FROM of an image.
pub(crate) fn counted_steps(instructions: &[Instruction], from_image: bool) -> usize {
    let fs = instructions.iter().filter(|i| {
        matches!(
            i.command,
            Command::Run(_) | Command::Copy(_) | Command::Add(_) | Command::Workdir(_)
        )
    });
    fs.count() + usize::from(from_image)
}

/// Stage `index` lowered, lowering it now if nothing needed it before: a stage named only by
/// an ONBUILD trigger (`ONBUILD COPY --from=src`) is found when the trigger runs, as BuildKit
/// finds it when it dispatches the trigger. References only go to earlier stages, so this ends.
pub(crate) fn ensure_lowered(shared: &mut Shared, index: usize) -> Result<StageOut, BuildError> {
    if let Some(out) = &shared.outs[index] {
        return Ok(out.clone());
    }
    let out = lower_stage(shared, index)?;
    shared.outs[index] = Some(out.clone());
    Ok(out)
}

/// Lowers stage `index`.
pub(crate) fn lower_stage(shared: &mut Shared, index: usize) -> Result<StageOut, BuildError> {
    let stage = &shared.input.dockerfile.stages[index];
    let mut st = base::start(shared, index)?;
    st.reindex_env();
    let triggers = st.out.config.config.on_build.take().unwrap_or_default();
    // BuildKit adds every trigger to the count.
    st.total += triggers.len();
    let escape = shared.input.dockerfile.directives.escape;
    for t in triggers {
        let mut ins = parse_trigger(&t, escape)?;
        ins.location = stage.location;
        // BuildKit shows a trigger's steps as `ONBUILD RUN ...`.
        ins.source = format!("ONBUILD {}", ins.source);
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
