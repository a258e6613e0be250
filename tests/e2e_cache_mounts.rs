//! Portable cache mounts (issue 14): `rbuild cache export --mounts DEST` and `cache import
//! SRC` through an OCI layout directory and a real registry. Mounts are filled by RUN steps
//! (busybox), compared as trees (bytes, modes, owners, mtimes, links); a second export after
//! one file changed uploads a pack of that file's new bytes and the new config only (counted
//! in the registry's access log); a hostile artifact writes nothing anywhere.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::registry::{ok, run};
use common::{fstree, text, Env};
use rbuild_store::{Sharing, Store};
use rbuild_testkit::{Registry, RegistryAuth};

/// Fills two cache mounts with every kind of entry: packed small files, a file big enough
/// for several content-defined chunks, a hardlink, symlinks, a FIFO, setuid and sticky bits,
/// another owner, an old mtime.
const FILL: &str = r#"FROM busybox:latest
RUN --mount=type=cache,id=tools,target=/cache sh -c 'mkdir -p /cache/pkg/sub && for i in $(seq 1 60); do head -c $((i * 97)) /dev/urandom > /cache/pkg/f$i; done && head -c 3000000 /dev/urandom > /cache/pkg/sub/big && ln /cache/pkg/f1 /cache/pkg/sub/hard && ln -s ../f2 /cache/pkg/sub/soft && ln -s /etc/passwd /cache/abs && chown 1234:5678 /cache/pkg/f3 && chmod 4750 /cache/pkg/f4 && chmod 1777 /cache/pkg/sub && mkfifo /cache/pipe && touch -d "2020-01-02 03:04:05" /cache/pkg/f5'
RUN --mount=type=cache,id=other,target=/c,mode=0700,uid=1000 sh -c 'echo other > /c/o'
"#;

/// The data directory of mount `id` in the store at `root`.
fn mount_dir(root: &Path, id: &str) -> std::path::PathBuf {
    let store = Store::open(root).unwrap();
    let mount = store.cache_mount(id, Sharing::Shared).unwrap();
    assert!(
        !mount.created,
        "cache mount {id} does not exist in {}",
        root.display()
    );
    mount.data.clone()
}

/// The tree with each entry's mtime (directories' too) and the root's mode and owner.
fn describe(dir: &Path) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = fstree::tree(dir)
        .into_iter()
        .map(|(path, e)| {
            let m = std::fs::symlink_metadata(dir.join(&path)).unwrap();
            (
                path,
                format!("{e:?} mtime {}.{}", m.mtime(), m.mtime_nsec()),
            )
        })
        .collect();
    let root = std::fs::metadata(dir).unwrap();
    let root = (root.mode(), root.uid(), root.gid(), root.mtime());
    out.insert(String::from("(root)"), format!("{root:?}"));
    out
}

/// A store (with the busybox base) whose two mounts `FILL` filled.
fn filled() -> (Env, tempfile::TempDir) {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), FILL).unwrap();
    env.build_ok(ctx.path(), "fill", &[]);
    (env, ctx)
}

/// Runs rbuild on a store of its own (`name` under `dir`), asserting success.
fn rbuild_ok(dir: &Path, name: &str, args: &[&str]) -> String {
    let cfg = dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    ok(run(&dir.join(name), &cfg, args), &args.join(" "))
}

#[test]
fn cache_mounts_round_trip_through_a_layout_dir_and_a_registry_into_fresh_stores() {
    let (env, _ctx) = filled();
    let tools = describe(&mount_dir(&env.store(), "tools"));
    let other = describe(&mount_dir(&env.store(), "other"));
    assert!(
        tools.contains_key("pipe") && tools.contains_key("pkg/sub/big"),
        "{tools:?}"
    );
    let t = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:v1", t.path().join("layout").display());
    let out = env.rbuild(&["cache", "export", "--mounts", &layout]);
    assert!(out.status.success(), "{}", text(&out));
    rbuild_ok(t.path(), "from-layout", &["cache", "import", &layout]);
    let got = t.path().join("from-layout");
    assert_eq!(describe(&mount_dir(&got, "tools")), tools);
    assert_eq!(describe(&mount_dir(&got, "other")), other);

    let registry = Registry::start(RegistryAuth::None).unwrap();
    let target = format!("{}/caches/ci:main", registry.addr);
    let out = env.rbuild(&["cache", "export", "--mounts", "--id", "tools", &target]);
    assert!(out.status.success(), "{}", text(&out));
    rbuild_ok(t.path(), "from-registry", &["cache", "import", &target]);
    let got = t.path().join("from-registry");
    assert_eq!(describe(&mount_dir(&got, "tools")), tools);
    let ls = rbuild_ok(t.path(), "from-registry", &["cache", "ls"]);
    assert!(
        !ls.contains("other"),
        "--id tools exported only tools: {ls}"
    );
}

#[test]
fn a_second_export_uploads_only_the_changed_files_bytes_and_the_new_config() {
    let (env, ctx) = filled();
    let registry = Registry::start(RegistryAuth::None).unwrap();
    let target = format!("{}/caches/ci:main", registry.addr);
    let out = env.rbuild(&["cache", "export", "--mounts", &target]);
    assert!(out.status.success(), "{}", text(&out));
    let change =
        "RUN --mount=type=cache,id=tools,target=/cache sh -c 'echo changed > /cache/pkg/f7'\n";
    std::fs::write(ctx.path().join("Dockerfile"), format!("{FILL}{change}")).unwrap();
    env.build_ok(ctx.path(), "fill", &[]);
    let from = registry.log_len();
    let out = env.rbuild(&["cache", "export", "--mounts", &target]);
    assert!(out.status.success(), "{}", text(&out));
    let log = registry.log_since(from);
    let count = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    let blob_puts = count("\"PUT /v2/caches/ci/blobs/uploads/");
    assert_eq!(
        (blob_puts, count("\"PATCH /v2/caches/ci/blobs/")),
        (2, 0),
        "a pack of the changed file's bytes and the tools config, nothing else:\n{log}"
    );
    // Each part's manifest (a few hundred bytes; the client PUTs manifests without asking)
    // and the index.
    assert_eq!(count("\"PUT /v2/caches/ci/manifests/"), 3, "{log}");
    assert!(text(&out).contains("sent 2 blobs"), "{}", text(&out));
    let t = tempfile::tempdir().unwrap();
    rbuild_ok(t.path(), "s", &["cache", "import", &target]);
    let got = mount_dir(&t.path().join("s"), "tools");
    assert_eq!(
        std::fs::read_to_string(got.join("pkg/f7")).unwrap(),
        "changed\n"
    );
    assert_eq!(describe(&got), describe(&mount_dir(&env.store(), "tools")));
}

/// An OCI layout holding one cache mount whose config lists `entries` (JSON), and a chunk
/// holding `bytes`.
fn hostile_layout(dir: &Path, entries: &str, bytes: &[u8]) {
    use rbuild_oci::{Descriptor, Digest};
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8], mt: &str| {
        std::fs::write(blobs.join(Digest::of(data).hex()), data).unwrap();
        serde_json::to_string(&Descriptor::new(mt, Digest::of(data), data.len() as u64)).unwrap()
    };
    let chunk = put(bytes, rbuild_store::CACHE_MOUNT_CHUNK);
    let root = r#"{"mode":493,"uid":0,"gid":0,"mtime":[0,0]}"#;
    let config = format!(r#"{{"id":"evil","part":0,"parts":1,"root":{root},"entries":{entries}}}"#);
    let config = put(config.as_bytes(), rbuild_store::CACHE_MOUNT_CONFIG);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{config},"layers":[{chunk}]}}"#
    );
    let manifest = put(
        manifest.as_bytes(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    let entry = manifest.replacen(
        '{',
        r#"{"annotations":{"dev.rbuild.cachemount.id":"evil"},"#,
        1,
    );
    let index = format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#);
    let index = put(index.as_bytes(), "application/vnd.oci.image.index.v1+json");
    let named = index.replacen(
        '{',
        r#"{"annotations":{"org.opencontainers.image.ref.name":"latest"},"#,
        1,
    );
    std::fs::write(
        dir.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{named}]}}"#),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn a_hostile_artifact_is_refused_and_writes_nothing_anywhere() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let out = outside.display();
    let piece = rbuild_oci::Digest::of(b"pwned");
    let file = |path: &str| {
        let chunks = format!(r#"[[0,0,5,"{piece}"]]"#);
        format!(r#"{{"path":"{path}","type":"file","mode":420,"size":5,"chunks":{chunks}}}"#)
    };
    let cases = [
        ("dot-dot", format!("[{}]", file("../outside/pwned"))),
        ("absolute", format!("[{}]", file(&format!("{out}/pwned")))),
        (
            "symlink then write",
            format!(
                r#"[{{"path":"l","type":"symlink","mode":511,"target":"{out}"}},{}]"#,
                file("l/pwned")
            ),
        ),
        (
            "hardlink out",
            r#"[{"path":"h","type":"hardlink","target":"/etc/passwd"}]"#.to_string(),
        ),
    ];
    for (name, entries) in cases {
        let layout = t.path().join(name.replace(' ', "-"));
        hostile_layout(&layout, &entries, b"pwned");
        let spec = format!("oci:{}", layout.display());
        let cfg = t.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        let store = t.path().join("store");
        let res = run(&store, &cfg, &["cache", "import", &spec]);
        assert!(!res.status.success(), "{name}: imported:\n{}", text(&res));
        assert!(
            text(&res).contains("refusing entry"),
            "{name}: {}",
            text(&res)
        );
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{name} wrote outside"
        );
        assert_eq!(
            std::fs::read_dir(store.join("tmp")).unwrap().count(),
            0,
            "{name}: scratch left"
        );
        let ls = ok(run(&store, &cfg, &["cache", "ls"]), "cache ls");
        assert!(!ls.contains("evil"), "{name}: a mount appeared: {ls}");
    }
}
