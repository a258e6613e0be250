//! The store and exporters end to end: save/load, `--output`, prune/rm/tag, check, crashes,
//! concurrent builders, reproducibility. Archives are checked with skopeo, umoci and runc.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{project, run_tool, text, umoci_unpack_layout, write_file, Env};

/// Extracts an OCI layout tar into `dir` (umoci reads layouts, not archives).
fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    run_tool(
        "tar",
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
}

fn skopeo_inspect(image: &str) -> serde_json::Value {
    let out = run_tool("skopeo", "skopeo", &["inspect", "--raw", image]);
    serde_json::from_str(&out).unwrap()
}

fn layer_media_types(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn save_oci_and_docker_archives_pass_skopeo_umoci_runc_and_load_back() {
    let env = Env::new();
    env.build_ok(&project().join("examples/hello"), "hello:1", &[]);
    let digest = env.manifest_digest("hello:1");
    let work = env.root.path();
    let oci = work.join("hello-oci.tar");
    env.rbuild_ok(&["save", "-o", oci.to_str().unwrap(), "hello:1"]);
    let m = skopeo_inspect(&format!("oci-archive:{}:hello:1", oci.display()));
    // busybox, WORKDIR /app (made by a mkdir step, as BuildKit does), COPY, three RUNs.
    assert_eq!(m["layers"].as_array().unwrap().len(), 6, "{m}");
    let layout = work.join("oci-layout");
    untar(&oci, &layout);
    let rootfs = umoci_unpack_layout(&layout, "hello:1", &work.join("b-oci"));
    assert!(rootfs.join("app/hello.sh").is_file());

    let docker = work.join("hello-docker.tar");
    env.rbuild_ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        docker.to_str().unwrap(),
        "hello:1",
    ]);
    let out = run_docker_archive(&env, &docker, "hello");
    assert!(
        out.contains("Hello from rbuild") && out.contains("built on Linux as root"),
        "{out}"
    );

    // Load both archives into fresh stores: same image, same digest (OCI) / same config (docker).
    let other = Env::empty();
    let loaded = other.rbuild_ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(loaded.trim(), "Loaded image: hello:1");
    assert_eq!(other.manifest_digest("hello:1"), digest);
    other.check_ok();
    let third = Env::empty();
    let loaded = third.rbuild_ok(&["load", "-i", docker.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: hello:1"), "{loaded}");
    assert_eq!(
        third.skopeo_config("hello:1")["rootfs"],
        env.skopeo_config("hello:1")["rootfs"]
    );
}

/// A small image whose contents the output tests check.
fn small_context(dir: &Path) {
    write_file(&dir.join("msg.txt"), b"exported\n", 0o640);
    let dockerfile = "FROM busybox:latest\nCOPY msg.txt /msg.txt\nRUN rm /bin/vi && mkdir /made && echo run > /made/by-run\nCMD [\"cat\", \"/msg.txt\"]\n";
    write_file(&dir.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
}

/// Converts a docker-archive to an OCI layout with skopeo (umoci reads only those), unpacks it
/// with umoci and runs it with runc; returns what it printed. Works in `env`'s root.
fn run_docker_archive(env: &Env, archive: &Path, tag: &str) -> String {
    let work = env.root.path();
    let converted = work.join("from-docker");
    run_tool(
        "skopeo",
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:{tag}", converted.display()),
        ],
    );
    let bundle = work.join("b-docker");
    umoci_unpack_layout(&converted, tag, &bundle);
    env.runc_run(&bundle)
}

#[test]
fn build_outputs_oci_docker_local_with_compression() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    let work = env.root.path();

    // type=oci with zstd: the archive's new layers are zstd, the store gets no tag.
    let oci = work.join("out-oci.tar");
    let spec = format!(
        "type=oci,dest={},compression=zstd,compression-level=9",
        oci.display()
    );
    let out = env.build_with(ctx.path(), &["-t", "small:zstd", "--output", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !env.rbuild(&["inspect", "small:zstd"]).status.success(),
        "type=oci alone must not tag the store"
    );
    let m = skopeo_inspect(&format!("oci-archive:{}:small:zstd", oci.display()));
    let types = layer_media_types(&m);
    assert_eq!(types.len(), 3, "{m}");
    assert!(
        types[1..]
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    // umoci 0.4 reads no zstd: skopeo decompresses (proving the blobs are valid zstd) first.
    let layout = work.join("zstd-layout");
    run_tool(
        "skopeo",
        "skopeo",
        &[
            "copy",
            "--dest-compress-format",
            "gzip",
            "--dest-compress",
            &format!("oci-archive:{}:small:zstd", oci.display()),
            &format!("oci:{}:small", layout.display()),
        ],
    );
    let rootfs = umoci_unpack_layout(&layout, "small", &work.join("b-zstd"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("msg.txt")).unwrap(),
        "exported\n"
    );
    assert!(!rootfs.join("bin/vi").exists());

    // The same steps with gzip (the default) are other cache records and other blobs.
    let docker = work.join("out-docker.tar");
    let spec = format!("type=docker,dest={}", docker.display());
    let out = env.build_with(
        ctx.path(),
        &["-t", "small:gz", "-o", &spec, "-o", "type=image"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let m = skopeo_inspect(&format!("oci:{}:small:gz", env.store().display()));
    assert!(layer_media_types(&m)
        .iter()
        .all(|t| t == "application/vnd.oci.image.layer.v1.tar+gzip"));
    assert_eq!(run_docker_archive(&env, &docker, "small"), "exported\n");

    // type=local: the root filesystem unpacked by rbuild equals umoci's unpacking.
    let local = work.join("local-out");
    let spec = format!("type=local,dest={}", local.display());
    let out = env.build_with(ctx.path(), &["-o", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(
        !all.contains("cache miss"),
        "the gzip build's records should be reused:\n{all}"
    );
    let umoci_root = env.umoci_unpack("small:gz").join("rootfs");
    assert_eq!(
        common::fstree::tree(&local),
        common::fstree::tree(&umoci_root)
    );

    // Uncompressed layers are accepted by skopeo as plain tars.
    let plain = work.join("plain.tar");
    let spec = format!(
        "type=oci,dest={},compression=uncompressed,name=p:1",
        plain.display()
    );
    let out = env.build_with(ctx.path(), &["-o", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    let m = skopeo_inspect(&format!("oci-archive:{}:p:1", plain.display()));
    assert!(layer_media_types(&m)[1..]
        .iter()
        .all(|t| t == "application/vnd.oci.image.layer.v1.tar"));
    env.check_ok();
}

#[test]
fn bad_output_specs_fail_before_building() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    for bad in ["type=oci", "type=nope,dest=x", "type=image,compression=lz4"] {
        let out = env.build_with(ctx.path(), &["-o", bad]);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(text(&out).contains("--output"), "{}", text(&out));
    }
    let out = env.build_with(
        ctx.path(),
        &[
            "-o",
            "type=image,compression=zstd",
            "-o",
            "type=oci,dest=/tmp/x.tar,compression=gzip",
        ],
    );
    assert!(!out.status.success());
}

#[test]
fn tag_rm_images_prune_and_check() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    env.build_ok(ctx.path(), "small:1", &[]);
    env.rbuild_ok(&["tag", "small:1", "other/name:2"]);
    assert_eq!(
        env.manifest_digest("other/name:2"),
        env.manifest_digest("small:1")
    );
    let images = env.rbuild_ok(&["images"]);
    let line = images
        .lines()
        .find(|l| l.starts_with("small:1 "))
        .unwrap_or_else(|| panic!("{images}"));
    assert!(
        line.trim_end().ends_with("MB") || line.trim_end().ends_with("kB"),
        "{line}"
    );

    // Removing one of two tags frees nothing; removing both frees the image's own blobs.
    env.rbuild_ok(&["rm", "small:1"]);
    let out = env.rbuild_ok(&["prune"]);
    assert!(out.contains("Deleted 0 blobs"), "{out}");
    let missing = env.rbuild(&["rm", "small:1"]);
    assert!(
        !missing.status.success(),
        "removing a missing tag must fail"
    );
    env.rbuild_ok(&["rm", "other/name:2"]);
    let out = env.rbuild_ok(&["prune"]);
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(!out.contains("Deleted 0 blobs"), "{out}");
    env.check_ok();
    // busybox is still tagged and complete; its blob survives.
    env.build_ok(ctx.path(), "small:again", &[]);
    let out = env.rbuild_ok(&["prune", "--all", "--keep-storage", "1GB"]);
    assert!(out.contains("Deleted"), "{out}");
    env.check_ok();
}

#[test]
fn store_check_fails_on_a_corrupt_blob() {
    let env = Env::new();
    env.check_ok();
    let blobs = env.store().join("blobs/sha256");
    let victim = std::fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let out = env.rbuild(&["store", "check"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CORRUPT"), "{}", text(&out));
}

fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "process did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps that take a while and write a few MB each, so kills land in RUN, in layer writing,
/// in ingest and in snapshot commits. `N` makes the last steps new in every iteration.
fn crash_context(dir: &Path) {
    let mut big = Vec::with_capacity(3 << 20);
    let mut x: u32 = 7;
    for _ in 0..(3 << 20) {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        big.push((x >> 24) as u8);
    }
    write_file(&dir.join("big.bin"), &big, 0o644);
    let dockerfile = "FROM busybox:latest
RUN head -c 4000000 /dev/urandom > /r1 && sleep 0.2
COPY big.bin /big.bin
ARG N
RUN echo $N > /n && head -c 3000000 /dev/urandom > /r2
RUN for i in 1 2 3 4 5 6 7 8; do head -c 500000 /dev/urandom > /f$i; done; sleep 0.1
RUN cat /n /r1 /r2 | md5sum > /sum
";
    write_file(&dir.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
}

/// Step numbers whose DONE line a (killed) build printed: their results were recorded.
fn done_steps(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" DONE "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A cheap xorshift, seeded from the clock: kill moments differ per run but are printed.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn sigkill_at_random_moments_never_corrupts_and_committed_steps_are_reused() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    crash_context(ctx.path());
    let c = ctx.path().to_str().unwrap();
    // One uninterrupted build measures how long a build takes.
    let start = Instant::now();
    env.build_ok(ctx.path(), "crash:0", &["--build-arg", "N=0"]);
    let full = start.elapsed().as_millis() as u64 + 200;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}, full build {full} ms");
    let log = env.root.path().join("killed.log");
    for i in 1..=22 {
        let n = format!("N={i}");
        let no_cache = if i % 4 == 0 { "--no-cache" } else { "--jobs=2" };
        let mut child = env.spawn(
            &[
                "build",
                "--progress",
                "plain",
                no_cache,
                "--build-arg",
                &n,
                "-t",
                "crash:x",
                c,
            ],
            &log,
        );
        let delay = rng(&mut seed) % full;
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let status = wait_timeout(&mut child, Duration::from_secs(60));
        let killed_log = std::fs::read_to_string(&log).unwrap();
        env.check_ok();
        let done = done_steps(&killed_log);
        // The same build again: it succeeds, and every step the killed one finished is reused.
        let out = env.rbuild(&[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            &n,
            "-t",
            "crash:x",
            c,
        ]);
        let again = text(&out);
        assert!(
            out.status.success(),
            "iteration {i} (killed after {delay} ms, {status}):\n{again}"
        );
        // DONE is printed after the cache record is written, so each such step is reusable.
        for step in &done {
            assert!(again.contains(&format!("{step} CACHED")), "iteration {i}: step {step} finished before the kill but was not reused:\n{killed_log}\n---\n{again}");
        }
    }
    env.check_ok();
    // The image is whole: runc runs it and the files are there.
    let rootfs = env.umoci_unpack("crash:x").join("rootfs");
    assert_eq!(std::fs::read_to_string(rootfs.join("n")).unwrap(), "22\n");
    assert_eq!(
        std::fs::metadata(rootfs.join("big.bin")).unwrap().len(),
        3 << 20
    );
}

#[test]
fn four_builders_share_one_store_at_once() {
    let env = Env::new();
    let ctxs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, ctx) in ctxs.iter().enumerate() {
        write_file(
            &ctx.path().join("own.txt"),
            format!("own {i}\n").as_bytes(),
            0o644,
        );
        // All share the first two steps; pairs share the third.
        let dockerfile = format!(
            "FROM busybox:latest\nRUN echo common > /common && head -c 2000000 /dev/zero > /zeros\n\
             RUN mkdir /shared && echo shared > /shared/s\nRUN echo pair-{} > /pair && sleep 0.3\n\
             COPY own.txt /own.txt\nRUN cat /common /pair /own.txt > /all\nCMD [\"cat\", \"/all\"]\n",
            i / 2
        );
        write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    }
    let logs: Vec<_> = (0..4)
        .map(|i| env.root.path().join(format!("b{i}.log")))
        .collect();
    let mut children: Vec<_> = ctxs
        .iter()
        .enumerate()
        .map(|(i, ctx)| {
            let tag = format!("multi:{i}");
            // With SOURCE_DATE_EPOCH, a step two builders both ran gives the same layer.
            let args = [
                "build",
                "--progress",
                "plain",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
            ];
            let mut args = args.to_vec();
            args.extend(["-t", &tag, ctx.path().to_str().unwrap()]);
            env.spawn(&args, &logs[i])
        })
        .collect();
    for (i, child) in children.iter_mut().enumerate() {
        let status = wait_timeout(child, Duration::from_secs(300));
        assert!(
            status.success(),
            "builder {i}: {}",
            std::fs::read_to_string(&logs[i]).unwrap()
        );
    }
    env.check_ok();
    for i in 0..4 {
        let bundle = env.umoci_unpack(&format!("multi:{i}"));
        let all = std::fs::read_to_string(bundle.join("rootfs/all")).unwrap();
        assert_eq!(all, format!("common\npair-{}\nown {i}\n", i / 2));
        assert_eq!(env.runc_run(&bundle), all);
    }
    // The shared steps give the same blobs, whether one builder reused another's record or
    // both ran the step at once (no cross-process dedup: there is no daemon).
    let layers = |i: usize| {
        let m = skopeo_inspect(&format!("oci:{}:multi:{i}", env.store().display()));
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let l0 = layers(0);
    for i in 1..4 {
        assert_eq!(
            layers(i)[..3],
            l0[..3],
            "builder {i} does not share the common layers"
        );
    }
}

#[test]
fn source_date_epoch_gives_identical_digests_in_two_fresh_stores() {
    let first = Env::new();
    let work = first.root.path();
    // Both stores get the very same base (import stamps the current time into its config).
    let base = work.join("busybox.oci.tar");
    first.rbuild_ok(&["save", "-o", base.to_str().unwrap(), "busybox:latest"]);
    let second = Env::empty();
    second.rbuild_ok(&["load", "-i", base.to_str().unwrap()]);
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    let dockerfile = "FROM busybox:latest\nCOPY msg.txt /msg.txt\nRUN mkdir -p /var/x && echo hi > /var/x/f && touch /var/x/t\nRUN rm /bin/vi\nENV A=b\nCMD [\"cat\", \"/msg.txt\"]\n";
    write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    let c = ctx.path().to_str().unwrap();
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    for env in [&first, &second] {
        let out = env.rbuild_env(
            &["build", "--progress", "plain", "-t", "repro:1", c],
            &epoch,
        );
        assert!(out.status.success(), "{}", text(&out));
        std::thread::sleep(Duration::from_millis(1100));
    }
    let a = first.manifest_digest("repro:1");
    let b = second.manifest_digest("repro:1");
    let ca = first.skopeo_config("repro:1");
    // The image and every step's history time are stamped with the epoch, as BuildKit does,
    // even though the base image was imported later.
    assert_eq!(ca["created"], "2023-11-14T22:13:20Z", "{ca}");
    let history = ca["history"].as_array().unwrap();
    assert_eq!(history.len(), 6, "{ca}");
    for h in &history[1..] {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{ca}");
    }
    assert_eq!(
        a,
        b,
        "configs:\n{}\n{}",
        ca,
        second.skopeo_config("repro:1")
    );
}
