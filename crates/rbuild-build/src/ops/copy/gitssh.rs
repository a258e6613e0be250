//! The transport of an ADD of a git remote over ssh. As in BuildKit (whose Dockerfile frontend
//! mounts the `default` ssh id for an ssh git source), git authenticates only with what
//! `--ssh default` forwards: an agent socket, or key files served by an agent rbuild runs for
//! the fetch. Without `--ssh`, an ssh remote fails ("needs --ssh"); the host's keys, agent and
//! `~/.ssh` are never used.

use rbuild_context::git::{GitError, GitSource, Transport};

use super::CopyStep;
use crate::ops::agent::Agent;
use crate::secrets::SshSource;
use crate::BuildError;

/// The ssh id BuildKit's Dockerfile frontend forwards to git sources.
const GIT_SSH_ID: &str = "default";

impl CopyStep<'_> {
    /// `g` with the ADD flags that apply to a git source folded in, as BuildKit's Dockerfile
    /// frontend does: `--checksum` is the commit (it must agree with `?commit=`/`?checksum=`),
    /// `--keep-git-dir` must agree with `?keep-git-dir=`.
    pub(super) fn git_source(&self, g: &GitSource) -> Result<GitSource, BuildError> {
        let mut g = g.clone();
        let Some(add) = self.op.add.as_ref() else {
            return Ok(g);
        };
        if add.keep_git_dir && g.keep_git_dir == Some(false) {
            return Err(self.meta.error("inconsistent keep-git-dir configuration"));
        }
        if let Some(flag) = &add.checksum {
            if let Some(q) = g.checksum.as_ref().filter(|q| *q != flag) {
                return Err(self
                    .meta
                    .error(format!("checksum mismatch {flag:?} != {q:?}")));
            }
            g.checksum = Some(flag.clone());
        }
        Ok(g)
    }

    /// Runs `f` with the transport git may use for `g`; an agent rbuild starts for `--ssh
    /// default=KEY` files lives until `f` returns.
    pub(super) fn with_git_transport<T>(
        &self,
        g: &GitSource,
        f: impl FnOnce(&Transport) -> Result<T, GitError>,
    ) -> Result<T, BuildError> {
        let source = match self.rt.request.ssh.get(GIT_SSH_ID) {
            Some(s) if g.is_ssh() => s,
            _ => return f(&Transport::default()).map_err(|e| self.meta.error(e)),
        };
        let (agent, _served, _dir) = match source {
            SshSource::Agent(sock) => (sock.clone(), None, None),
            SshSource::Keys(keys) => {
                let dir = self.rt.store.scratch()?;
                let served = Agent::start(dir.path(), keys)
                    .map_err(|e| self.meta.error(format!("ssh {GIT_SSH_ID}: {e}")))?;
                (served.socket().to_path_buf(), Some(served), Some(dir))
            }
        };
        let transport = Transport { agent: Some(agent) };
        f(&transport).map_err(|e| self.meta.error(e))
    }
}
