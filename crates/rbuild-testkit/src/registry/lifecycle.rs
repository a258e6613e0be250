//! Stopping a fixture registry, garbage-collecting its storage offline and starting it again
//! on the same storage and address, as an operator's maintenance window does.

use std::process::Command;

use super::{serve, Registry};
use crate::require_tool;

impl Registry {
    /// Stops the registry process (SIGKILL: the filesystem driver writes every file before it
    /// answers, so nothing acknowledged is lost) and waits for it to exit.
    pub fn stop(&mut self) -> std::io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
            self.child.wait()?;
        }
        Ok(())
    }

    /// Whether the registry process has exited.
    pub fn stopped(&mut self) -> std::io::Result<bool> {
        Ok(self.child.try_wait()?.is_some())
    }

    /// Runs `docker-registry garbage-collect` on the stopped registry's config (with
    /// `--delete-untagged` when asked: manifests no tag names go too, and their blobs);
    /// returns its output. Distribution's GC must not run beside a serving registry (an
    /// upload between its mark and sweep would lose blobs), so a running one is refused.
    pub fn garbage_collect(&mut self, delete_untagged: bool) -> std::io::Result<String> {
        if !self.stopped()? {
            return Err(std::io::Error::other(
                "garbage_collect needs a stopped registry: call stop() first",
            ));
        }
        let bin = require_tool("docker-registry", "docker-registry");
        let mut cmd = Command::new(bin);
        cmd.arg("garbage-collect");
        if delete_untagged {
            cmd.arg("--delete-untagged");
        }
        let out = cmd.arg(self.dir.path().join("config.yml")).output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "registry garbage-collect failed ({}): {text}",
                out.status
            )));
        }
        Ok(text)
    }

    /// Starts the stopped registry again with the same config, storage, address and access
    /// log, and waits until it answers. Fails (rather than moving) if another process took
    /// the port meanwhile: references naming the address must stay valid.
    pub fn restart(&mut self) -> std::io::Result<()> {
        if !self.stopped()? {
            return Err(std::io::Error::other(
                "restart needs a stopped registry: call stop() first",
            ));
        }
        self.child = serve(self.dir.path(), &self.log)?;
        match self.wait_ready()? {
            true => Ok(()),
            false => Err(std::io::Error::other(format!(
                "another process took {} while the registry was stopped",
                self.addr
            ))),
        }
    }

    /// Whether the storage holds the data of blob `digest` (`sha256:HEX`), whichever
    /// repository links it: what a garbage collection removes.
    pub fn has_blob(&self, digest: &str) -> bool {
        let Some(hex) = digest.strip_prefix("sha256:").filter(|h| h.len() > 2) else {
            return false;
        };
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
            .is_file()
    }
}
