//! WORKDIR: sets the config's working directory and adds the vertex that makes it.

use rbuild_dockerfile::Instruction;

use super::fs::push_fs;
use super::meta::join_workdir;
use super::state::StageState;
use super::Shared;
use crate::plan::{OpKind, WorkdirOp};
use crate::BuildError;

/// BuildKit makes the directory with a mkdir op owned by the USER in effect, so does this.
pub(crate) fn workdir(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    dir: &str,
) -> Result<(), BuildError> {
    let c = &mut st.out.config.config;
    let path = join_workdir(c.working_dir.as_deref(), dir);
    c.working_dir = Some(path.clone());
    // BuildKit's history names the resulting path, without a builder suffix.
    let text = format!("WORKDIR {path}");
    if path == "/" {
        // BuildKit (dispatchWorkdir) makes nothing for `/`: no op, no layer.
        super::meta::record(st, &text);
        return Ok(());
    }
    let user = c.user.clone().unwrap_or_default();
    let step = shared.step(st, ins.location.start_line, &ins.source);
    let op = OpKind::Workdir(WorkdirOp { path, user });
    let v = shared.add(op, vec![st.out.vertex], &st.name, step);
    push_fs(st, v, text);
    Ok(())
}
