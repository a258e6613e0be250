//! buildah CVE-2024-9407: `RUN --mount=...,bind-propagation=<anything>` was passed to the mount
//! unvalidated, so a Dockerfile could inject mount options. rbuild knows each mount type's keys
//! and refuses any other (and BuildKit's own bind-propagation, which it does not implement),
//! at the Dockerfile's line, before any step runs.

use crate::common::mounts::dockerfile;
use crate::common::{run_output, text, Env};

#[test]
fn cve_2024_9407_mount_options_cannot_be_injected() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    for (mount, key) in [
        (
            "type=bind,source=.,target=/x,bind-propagation=rshared",
            "bind-propagation",
        ),
        (
            "type=bind,source=.,target=/x,bind-propagation=shared,rw",
            "bind-propagation",
        ),
        ("type=cache,target=/x,options=suid", "options"),
        ("type=tmpfs,target=/x,tmpfs-mode=4777,exec", "tmpfs-mode"),
        ("type=bind,source=.,target=/x,relabel=shared", "relabel"),
    ] {
        dockerfile(
            ctx.path(),
            &format!("FROM busybox:latest\nRUN echo EARLIER-RAN\nRUN --mount={mount} echo INJECTED-RAN\n"),
        );
        let out = env.build_with(ctx.path(), &["--no-cache"]);
        let log = text(&out);
        assert!(!out.status.success(), "{mount}: accepted:\n{log}");
        assert!(
            log.contains("Dockerfile:3") && log.contains(&format!("unexpected key '{key}'")),
            "{mount}: {log}"
        );
        assert!(run_output(&log).is_empty(), "{mount}: a step ran:\n{log}");
    }
}
