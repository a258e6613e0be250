//! Issue 15, "export during the build": with `--cache-to ...,mode=max` each step's layer goes
//! to the registry while later steps still run, so the end of the build only writes the
//! manifest. Proved without timing: a later step is held at a gate until the test has seen
//! the earlier step's layer arrive in the registry.

mod common;

use std::time::{Duration, Instant};

use common::gate::Gate;
use common::registry::{layer_digests, raw_manifest};
use common::{text, Env};

/// Blob uploads the registry completed in `log`: the `digest=` of each finishing PUT.
fn uploaded(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("\"PUT /v2/") && l.contains("/blobs/uploads/"))
        .filter_map(|l| {
            let at = l.find("digest=sha256")? + "digest=".len();
            let rest = l[at..].replace("%3A", ":");
            Some(rest.chars().take(71).collect())
        })
        .collect()
}

#[test]
fn a_steps_layer_reaches_the_registry_before_the_build_ends() {
    layer_goes_early("max");
}

/// `mode=min` (the default) holds the exported image's own steps: those go early too.
#[test]
fn with_mode_min_an_image_steps_layer_goes_early_too() {
    layer_goes_early("min");
}

/// A `compression=` export sends its step's converted layer early: the blob the cache lists.
#[test]
fn a_converted_layer_goes_early_too() {
    layer_goes_early("max,compression=zstd");
}

fn layer_goes_early(mode: &str) {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let gate = Gate::start();
    let cache = format!("{}/app:cache", reg.addr);
    let dockerfile = format!(
        "FROM busybox\n\
         RUN head -c 300000 /dev/urandom > /early\n\
         RUN --network=host wget -q -O /dev/null {} && echo late > /late\n",
        gate.url("second")
    );
    let ctx = common::registry::context(&dockerfile);
    let env = Env::new();
    let log_path = env.root.path().join("build.log");
    let to = format!("type=registry,ref={cache},mode={mode}");
    let args = [
        "build",
        "--allow",
        "network.host",
        "--cache-to",
        &to,
        ctx.path().to_str().unwrap(),
    ];
    let mut child = env.spawn(&args, &log_path);
    let start = reg.log_len();
    let arrived = gate.wait_for(Duration::from_secs(300), |a| {
        a.iter().any(|n| n == "second")
    });
    assert!(arrived, "the second step never started");

    // The second step is held: the first one's layer must arrive now, not at the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    let early = loop {
        let up = uploaded(&reg.log_since(start));
        if !up.is_empty() || Instant::now() > deadline {
            break up;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let manifests_so_far = reg.log_since(start).contains("PUT /v2/app/manifests/");
    gate.release("second");
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        !early.is_empty(),
        "no layer was uploaded while a later step ran:\n{log}"
    );
    assert!(
        !manifests_so_far,
        "the cache manifest was written before the build ended"
    );

    let layers = layer_digests(&raw_manifest(&cache));
    assert!(
        early.iter().all(|d| layers.contains(d)),
        "uploaded early {early:?}, the cache lists {layers:?}"
    );
}

/// Writing a cache again to the tag that already lists its blobs (the CI runner that rebuilds
/// the same commit) asks the registry about none of them and sends none: only the document.
#[test]
fn a_cache_written_again_to_its_tag_asks_about_no_blob_it_listed() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cache = format!("{}/app:cache", reg.addr);
    let ctx = common::registry::context(
        "FROM busybox\nCOPY Dockerfile /d1\nRUN echo $RANDOM$RANDOM > /two\n",
    );
    let env = Env::new();
    let to = format!("type=registry,ref={cache},mode=max");
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--cache-to", &to[..]];
        args.extend_from_slice(extra);
        args.push(ctx.path().to_str().unwrap());
        let out = env.rbuild(&args);
        assert!(out.status.success(), "{}", text(&out));
    };
    build(&[]);
    let doc = raw_manifest(&cache);
    let listed = layer_digests(&doc);
    assert!(listed.len() >= 3, "{doc}");
    let start = reg.log_len();
    build(&["--no-cache"]);
    let log = reg.log_since(start);
    // The RUN made another layer ($RANDOM) and so another document: those
    // are asked about and sent; the blobs the tag's document listed are not even asked about.
    let heads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"HEAD /v2/app/blobs/"))
        .collect();
    for l in &heads {
        let asked = listed.iter().find(|d| l.contains(d.as_str()));
        assert!(asked.is_none(), "asked about a listed blob: {l}\n{log}");
    }
    // A layer the early uploader sent is not asked about again when the document is written.
    let sent = uploaded(&log);
    assert!(!sent.is_empty(), "the new RUN layer was not sent:\n{log}");
    for d in &sent {
        let asked = heads.iter().filter(|l| l.contains(d.as_str())).count();
        assert!(asked <= 1, "{d} asked about {asked} times:\n{log}");
    }
    assert!(log.contains("PUT /v2/app/manifests/cache"), "{log}");
}
