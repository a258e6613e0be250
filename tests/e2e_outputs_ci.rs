//! Issue 15, the outputs CI pipelines use: `push-by-digest` and `name-canonical` (checked
//! with skopeo against a real registry), `--label` and `--annotation` on the config, the
//! manifests, the index and their descriptors, `type=tar`, and `--load` into a docker engine
//! (a unix-socket server speaking the engine's `POST /images/load`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;

use common::registry::{run, skopeo};
use common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.path().join("f"), "file\n").unwrap();
    ctx
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn read_json(path: &Path) -> serde_json::Value {
    json(&std::fs::read(path).unwrap())
}

#[test]
fn push_by_digest_pushes_no_tag_and_name_canonical_names_the_digest() {
    let env = Env::new();
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let ctx = context("FROM busybox\nRUN echo digest > /d\n");
    let repo = format!("{}/bydigest", reg.addr);
    let meta = env.root.path().join("meta.json");
    let output = format!("type=image,name={repo}:unused,push-by-digest=true,name-canonical=true");
    let args = [
        "build",
        "-o",
        &output,
        "--metadata-file",
        meta.to_str().unwrap(),
    ];
    let out = run(
        &env.store(),
        cfg.path(),
        &[&args[..], &[ctx.path().to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let m = read_json(&meta);
    let digest = m["containerimage.digest"].as_str().unwrap().to_string();
    let canonical = format!("{repo}@{digest}");
    let names = m["image.name"].as_str().unwrap();
    assert!(names.split(',').any(|n| n == canonical), "{m}");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{repo}"),
    ]);
    // distribution answers 404 for the tags of a repository that has none.
    if tags.status.success() {
        let listed = &json(&tags.stdout)["Tags"];
        assert_eq!(listed, &serde_json::json!([]), "a tag was pushed");
    } else {
        assert!(text(&tags).contains("404"), "{}", text(&tags));
    }
    let by_digest = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{canonical}"),
    ]);
    assert!(by_digest.status.success(), "{}", text(&by_digest));
    assert_eq!(
        format!("sha256:{}", rbuild_oci::sha256_hex(&by_digest.stdout)),
        digest
    );
}

#[test]
fn labels_and_annotations_reach_the_config_and_manifest_in_the_registry() {
    let env = Env::new();
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let ctx = context("FROM busybox\nLABEL from.dockerfile=1 over=dockerfile\nRUN true\n");
    let image = format!("{}/labelled:1", reg.addr);
    let args = [
        "build",
        "-t",
        &image,
        "--push",
        "--label",
        "org.opencontainers.image.source=https://example.com/app",
        "--label",
        "over=cli",
        "--annotation",
        "org.opencontainers.image.revision=abc123",
        "--annotation",
        "manifest[linux/arm64]:only.arm64=1",
        ctx.path().to_str().unwrap(),
    ];
    let out = run(&env.store(), cfg.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let docker = format!("docker://{image}");
    let config = skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &docker,
    ]);
    let labels = &json(&config.stdout)["config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.com/app"
    );
    assert_eq!(labels["from.dockerfile"], "1");
    assert_eq!(
        labels["over"], "cli",
        "a --label overrides the Dockerfile's LABEL"
    );
    let manifest = json(&skopeo(&["inspect", "--raw", "--tls-verify=false", &docker]).stdout);
    let notes = &manifest["annotations"];
    assert_eq!(
        notes["org.opencontainers.image.revision"], "abc123",
        "{manifest}"
    );
    assert!(
        notes.get("only.arm64").is_none(),
        "another platform's annotation: {manifest}"
    );
}

#[test]
fn multi_platform_annotations_go_to_index_manifests_and_descriptors() {
    let env = Env::new();
    let ctx = context("FROM scratch\nCOPY f /f\n");
    let dir = env.root.path().join("layout");
    let output = format!("type=oci,tar=false,dest={}", dir.display());
    let args = [
        "build",
        "-t",
        "multi:1",
        "--platform",
        "linux/amd64,linux/arm64",
        "-o",
        &output,
        "--annotation",
        "index:in.index=1",
        "--annotation",
        "index-descriptor:on.index=2",
        "--annotation",
        "manifest-descriptor[linux/arm64]:on.arm64=3",
        "--annotation",
        "manifest:in.each=4",
        ctx.path().to_str().unwrap(),
    ];
    let out = env.rbuild(&args);
    assert!(out.status.success(), "{}", text(&out));
    let top = read_json(&dir.join("index.json"));
    let entry = &top["manifests"][0];
    assert_eq!(entry["annotations"]["on.index"], "2", "{top}");
    let blob = |d: &serde_json::Value| {
        let hex = d["digest"].as_str().unwrap().trim_start_matches("sha256:");
        read_json(&dir.join("blobs/sha256").join(hex))
    };
    let index = blob(entry);
    assert_eq!(index["annotations"]["in.index"], "1", "{index}");
    for m in index["manifests"].as_array().unwrap() {
        let arm = m["platform"]["architecture"] == "arm64";
        assert_eq!(m["annotations"]["on.arm64"].as_str().is_some(), arm, "{m}");
        assert_eq!(blob(m)["annotations"]["in.each"], "4");
    }
}

#[test]
fn index_annotations_of_a_single_platform_build_fail_before_it_runs() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN touch /ran\n");
    let args = [
        "build",
        "--annotation",
        "index:k=v",
        ctx.path().to_str().unwrap(),
    ];
    let out = env.rbuild(&args);
    assert!(!out.status.success(), "{}", text(&out));
    let err = text(&out);
    assert!(err.contains("need a multi-platform build"), "{err}");
    assert!(!err.contains("RUN touch"), "the build ran first: {err}");
    let bad = env.rbuild(&["build", "--annotation", "bogus:k=v", "."]);
    assert!(
        text(&bad).contains("unknown annotation type \"bogus\""),
        "{}",
        text(&bad)
    );
}

#[test]
fn type_tar_writes_the_root_filesystem_to_a_file_or_stdout() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN mkdir /out && echo tarred > /out/t\n");
    let file = env.root.path().join("fs.tar");
    let output = format!("type=tar,dest={}", file.display());
    let out = env.rbuild(&["build", "-o", &output, ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let listed = tar(&["-xOf", file.to_str().unwrap(), "out/t"]);
    assert_eq!(listed, "tarred\n");
    let out = env.rbuild(&["build", "-q", "-o", "-", ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let piped = env.root.path().join("piped.tar");
    std::fs::write(&piped, &out.stdout).unwrap();
    assert_eq!(tar(&["-xOf", piped.to_str().unwrap(), "out/t"]), "tarred\n");
}

fn tar(args: &[&str]) -> String {
    let out = std::process::Command::new("tar")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An engine answering `GET /_ping` until one `POST /images/load`: returns that request's
/// chunked body, after answering it with `answer` (status, JSON line).
fn fake_engine(socket: &Path, answer: (u16, &'static str)) -> std::thread::JoinHandle<Vec<u8>> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || loop {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&stream);
        let mut head = String::new();
        while reader.read_line(&mut head).unwrap() > 2 && !head.ends_with("\r\n\r\n") {}
        if head.starts_with("GET /_ping ") {
            (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .unwrap();
            continue;
        }
        assert!(head.starts_with("POST /images/load"), "{head}");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        let body = read_chunked(&mut reader);
        // The engine keeps connections alive unless told: an rbuild that waits for the end
        // of the answer without `Connection: close` would hang (it did, for 5 minutes).
        assert!(head.contains("Connection: close"), "{head}");
        let (code, line) = answer;
        let reply = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{line}\n\r\n0\r\n\r\n",
            line.len() + 1
        );
        (&stream).write_all(reply.as_bytes()).unwrap();
        return body;
    })
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk).unwrap();
        if n == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn load_streams_a_docker_archive_into_the_engine() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo loaded > /l\n");
    let socket = env.root.path().join("docker.sock");
    let engine = fake_engine(&socket, (200, r#"{"stream":"Loaded image: load:1\n"}"#));
    let host = format!("unix://{}", socket.display());
    let iid = env.root.path().join("iid");
    let args = [
        "build",
        "--load",
        "-t",
        "load:1",
        "--iidfile",
        iid.to_str().unwrap(),
        ctx.path().to_str().unwrap(),
    ];
    let out = env.rbuild_env(&args, &[("DOCKER_HOST", &host)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Loaded image: load:1"),
        "{}",
        text(&out)
    );
    let archive = env.root.path().join("loaded.tar");
    std::fs::write(&archive, engine.join().unwrap()).unwrap();
    let manifest = json(tar(&["-xOf", archive.to_str().unwrap(), "manifest.json"]).as_bytes());
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["load:1"]));
    let config = manifest[0]["Config"].as_str().unwrap();
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(
        config.contains(id.trim_start_matches("sha256:")),
        "{config} vs {id}"
    );
}

#[test]
fn load_reports_the_engines_refusal_and_a_missing_engine_before_building() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN touch /never\n");
    let socket = env.root.path().join("refusing.sock");
    let engine = fake_engine(&socket, (200, r#"{"error":"no space left on device"}"#));
    let host = format!("unix://{}", socket.display());
    let args = ["build", "-o", "type=docker", ctx.path().to_str().unwrap()];
    let out = env.rbuild_env(&args, &[("DOCKER_HOST", &host)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no space left on device"),
        "{}",
        text(&out)
    );
    engine.join().unwrap();
    let gone = format!("unix://{}", env.root.path().join("none.sock").display());
    let out = env.rbuild_env(&args, &[("DOCKER_HOST", &gone)]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no docker engine answers"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("RUN touch"),
        "built first: {}",
        text(&out)
    );
    let tcp = env.rbuild_env(&args, &[("DOCKER_HOST", "tcp://127.0.0.1:2375")]);
    assert!(
        text(&tcp).contains("is not a unix:// socket"),
        "{}",
        text(&tcp)
    );
}
