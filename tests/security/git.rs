//! BuildKit CVE-2026-33748: `ADD repo.git#ref:subdir` copied from wherever `subdir` led, so a
//! repository holding `sub -> /etc` (its author's choice) or a fragment `#main:../../..` (the
//! Dockerfile's) put host files into the image.

use std::path::Path;

use crate::common::context::{serve, sh, write};
use crate::common::mounts::dockerfile;
use crate::common::{text, Env};
use rbuild_testkit::Canary;

/// A bare repository served over dumb HTTP whose tree links out to `outside` in both ways.
fn hostile_repository(work: &Path, outside: &Path) -> String {
    let git = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main";
    write(&work.join("src/docs/readme.md"), "inside\n");
    let depth = "../".repeat(30);
    let outside = outside.display();
    sh(
        &format!(
            "cd src && ln -s {outside} abs && ln -s {depth}{outside} rel && \
             {git} init -q && {git} add . && {git} commit -qm one"
        ),
        work,
    );
    sh(
        "git clone -q --bare src srv/repo.git && cd srv/repo.git && git update-server-info",
        work,
    );
    serve(work.join("srv"))
}

#[test]
fn cve_2026_33748_git_subdir_symlink_stays_in_the_repository() {
    let env = Env::new();
    let c = Canary::new(Path::new("/tmp"), &["secret"]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let base = hostile_repository(work.path(), c.dir());
    let dotdot = format!("{}{}", "../".repeat(30), c.dir().display());
    let ctx = tempfile::tempdir().unwrap();
    for subdir in ["abs", "rel", "abs/", "docs/../abs", dotdot.as_str()] {
        dockerfile(
            ctx.path(),
            &format!("FROM busybox:latest\nADD {base}/repo.git#main:{subdir} /got/\nRUN cat /got/secret; ls -la /got\n"),
        );
        let out = env.build_with(ctx.path(), &["--no-cache"]);
        let log = text(&out);
        assert!(!out.status.success(), "#main:{subdir} was accepted:\n{log}");
        assert!(
            log.contains("is not inside the repository"),
            "#main:{subdir}: {log}"
        );
        for body in c.bodies() {
            assert!(
                !log.contains(body),
                "#main:{subdir} read the canary:\n{log}"
            );
        }
        c.assert_untouched(&format!("ADD repo.git#main:{subdir}"));
    }
    // Control: a subdirectory that is one works.
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\nADD {base}/repo.git#main:docs /got/\nRUN cat /got/readme.md\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "git-inside:1", &["--no-cache"]);
    assert!(log.contains(" inside\n"), "{log}");
}
