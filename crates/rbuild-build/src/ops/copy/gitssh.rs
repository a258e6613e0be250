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
