//! Issue 3, end to end: multi-stage builds with global ARGs, --target, COPY --from by name and
//! index, ONBUILD from a base built earlier, heredocs, and every metadata instruction, checked
//! in the config the way BuildKit writes it (Docker's extensions kept under OCI media types).

mod common;

use std::path::Path;

use common::Env;
use serde_json::json;

const ONBASE: &str = "FROM busybox:latest
ONBUILD COPY trigger.txt /trigger.txt
ONBUILD RUN echo triggered > /triggered
";

const MULTI: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox:latest
ARG GREETING=hello
FROM ${BASE} AS base
ARG GREETING
RUN echo "$GREETING from base" > /greeting

FROM base AS builder
RUN <<EOF
mkdir -p /out
echo built > /out/artifact
EOF
ARG KEY=value
COPY <<EOF /out/config.txt
key=${KEY} "quoted"
EOF
COPY <<'EOF' /out/raw.txt
key=${KEY}
EOF

FROM busybox:latest AS never
RUN echo this stage is not needed && exit 1

FROM onbase:1 AS final
COPY --from=builder /out/artifact /app/artifact
COPY --from=0 /greeting /app/greeting
LABEL version="1.0" description="multi stage"
MAINTAINER rbuild tests
EXPOSE 80 53/udp
ENV APP_MODE=production
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q -O- localhost || exit 1
SHELL ["/bin/sh", "-ec"]
RUN echo "mode=$APP_MODE" > /app/mode
ONBUILD RUN echo child
USER app
WORKDIR /app
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting /app/artifact /app/mode /trigger.txt /triggered"]
"#;

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

fn setup(env: &Env) -> tempfile::TempDir {
    let base = tempfile::tempdir().unwrap();
    write(base.path(), "Dockerfile", ONBASE);
    env.build_ok(base.path(), "onbase:1", &[]);
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), "Dockerfile", MULTI);
    write(ctx.path(), "trigger.txt", "from the trigger\n");
    ctx
}

#[test]
fn multi_stage_with_onbuild_heredocs_and_metadata() {
    let env = Env::new();
    let ctx = setup(&env);
    let log = env.build_ok(ctx.path(), "multi:1", &["--build-arg", "GREETING=hi"]);
    assert!(
        !log.contains("this stage is not needed"),
        "an unneeded stage ran:\n{log}"
    );
    let c = env.skopeo_config("multi:1");
    let cfg = &c["config"];
    let health = json!({"Test": ["CMD-SHELL", "wget -q -O- localhost || exit 1"],
        "Interval": 30_000_000_000u64, "Timeout": 5_000_000_000u64, "Retries": 3});
    assert_eq!(cfg["Healthcheck"], health);
    assert_eq!(
        cfg["OnBuild"],
        json!(["RUN echo child"]),
        "the base's triggers must not be inherited"
    );
    assert_eq!(cfg["Shell"], json!(["/bin/sh", "-ec"]));
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(cfg["Volumes"], json!({"/data": {}}));
    assert_eq!(cfg["ExposedPorts"], json!({"53/udp": {}, "80/tcp": {}}));
    assert_eq!(
        cfg["Labels"],
        json!({"version": "1.0", "description": "multi stage"})
    );
    assert_eq!(cfg["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["User"], "app");
    assert_eq!(c["author"], "rbuild tests");
    let envs = cfg["Env"].as_array().unwrap();
    assert!(envs.contains(&json!("APP_MODE=production")), "{envs:?}");
    assert!(
        !envs
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("GREETING=")),
        "ARG leaked into Env"
    );
    let history = c["history"].as_array().unwrap();
    assert!(
        !history
            .iter()
            .any(|h| h.to_string().contains("GREETING=hi")),
        "build arg in history"
    );
    let bundle = env.umoci_unpack("multi:1");
    let out = env.runc_run(&bundle);
    assert_eq!(
        out,
        "hi from base\nbuilt\nmode=production\nfrom the trigger\ntriggered\n"
    );
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let env = Env::new();
    let ctx = setup(&env);
    let log = env.build_ok(ctx.path(), "builder:1", &["--target", "builder"]);
    assert!(
        !log.contains("onbase"),
        "the final stage was lowered:\n{log}"
    );
    let rootfs = env.umoci_unpack("builder:1").join("rootfs");
    let config = std::fs::read_to_string(rootfs.join("out/config.txt")).unwrap();
    assert_eq!(
        config, "key=value \"quoted\"\n",
        "variables expanded, quotes kept"
    );
    let raw = std::fs::read_to_string(rootfs.join("out/raw.txt")).unwrap();
    assert_eq!(
        raw, "key=${KEY}\n",
        "a quoted delimiter turns expansion off"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("out/artifact")).unwrap(),
        "built\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("greeting")).unwrap(),
        "hello from base\n"
    );
    let out = env.rbuild(&["build", "--target", "nope", ctx.path().to_str().unwrap()]);
    let text = common::text(&out);
    assert!(!out.status.success());
    assert!(
        text.contains("target stage \"nope\" could not be found"),
        "{text}"
    );
}

#[test]
fn parse_errors_name_the_line() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox:latest\nRUN true\nFROBNICATE now\n",
    );
    let out = env.rbuild(&["build", ctx.path().to_str().unwrap()]);
    let text = common::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(":3") && text.to_lowercase().contains("frobnicate"),
        "{text}"
    );
}

/// WORKDIR makes its directory as BuildKit's mkdir step does (checked against docker 20.10's
/// BuildKit: `USER 1000:1000` + `WORKDIR /w/x` gave 1000:1000 on both): missing directories
/// are owned by the USER in effect, an existing one is left alone (and, as BuildKit's mkdir
/// op, still makes a layer, an empty one: this test said "no layer" before issue 19), and a
/// WORKDIR no later step uses still exists in the image.
#[test]
fn workdir_is_made_as_the_user_in_effect() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let df = "FROM busybox:latest\n\
RUN mkdir -p /exist && chown 5:6 /exist\n\
USER 1000:1000\n\
WORKDIR /w/x\n\
RUN touch made-by-user\n\
WORKDIR /exist\n\
USER 0:0\n\
WORKDIR /unused/dir\n";
    std::fs::write(ctx.path().join("Dockerfile"), df).unwrap();
    env.build_ok(ctx.path(), "wd:1", &[]);
    let root = env.umoci_unpack("wd:1").join("rootfs");
    let owner = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("w"), (1000, 1000));
    assert_eq!(owner("w/x"), (1000, 1000));
    assert_eq!(owner("w/x/made-by-user"), (1000, 1000));
    assert_eq!(owner("exist"), (5, 6));
    assert_eq!(owner("unused/dir"), (0, 0));
    let config = env.skopeo_config("wd:1");
    assert_eq!(config["config"]["WorkingDir"], "/unused/dir");
    let history = config["history"].as_array().unwrap();
    let layer_of = |text: &str| {
        let h = history
            .iter()
            .find(|h| h["created_by"] == text)
            .unwrap_or_else(|| panic!("no history entry {text:?}: {history:?}"));
        h.get("empty_layer") != Some(&serde_json::Value::Bool(true))
    };
    assert!(layer_of("WORKDIR /w/x"));
    assert!(
        layer_of("WORKDIR /exist"),
        "BuildKit: every WORKDIR but / is a layer"
    );
    assert!(layer_of("WORKDIR /unused/dir"));
}
