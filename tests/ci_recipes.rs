//! Issue 15, "CI recipes that are tested": every recipe in docs/ci marks its build commands
//! between `# rbuild-recipe: begin` and `# rbuild-recipe: end`. Here each recipe file is
//! parsed (YAML files with PyYAML, so a malformed workflow fails), its marked block is taken
//! from the parsed document and run with the shell its CI runs it with, against a local
//! registry, on a small multi-stage project, twice: each run on a fresh store, as ephemeral
//! runners are. The first run must push the image with the digest its metadata file names;
//! the second must run no step, everything coming from the registry cache.

mod common;

use std::process::{Command, Output};

use common::registry::skopeo_inspect;
use common::remote_cache::counts;
use common::{project, text, Env};
use rbuild_testkit::{require_tool, Registry, RegistryAuth};

const BEGIN: &str = "# rbuild-recipe: begin";
const END: &str = "# rbuild-recipe: end";

/// What a recipe's block may use without setting it: what its CI job defines.
const PROVIDED: &[&str] = &["REGISTRY", "IMAGE", "CACHE_REF", "CONTEXT", "RBUILD"];

/// A recipe file and the shell its CI runs the block with (`-u` added: an unset variable
/// is an error, not an empty word).
struct Recipe {
    file: &'static str,
    yaml: bool,
    shell: &'static [&'static str],
}

const GITHUB: Recipe = Recipe {
    file: "github-actions.yml",
    yaml: true,
    shell: &["bash", "--noprofile", "--norc", "-euo", "pipefail"],
};
const GITLAB: Recipe = Recipe {
    file: "gitlab-ci.yml",
    yaml: true,
    shell: &["bash", "-euo", "pipefail"],
};
const JENKINS: Recipe = Recipe {
    file: "Jenkinsfile",
    yaml: false,
    shell: &["sh", "-xeu"],
};
const KUBERNETES: Recipe = Recipe {
    file: "kubernetes-job.yaml",
    yaml: true,
    shell: &["bash", "-euo", "pipefail"],
};
const RECIPES: [&Recipe; 4] = [&GITHUB, &GITLAB, &JENKINS, &KUBERNETES];

/// Loads every YAML document of argv[1] (malformed YAML fails) and prints the one string in
/// them that holds the begin marker: the block as the CI will see it, after YAML's quoting.
const EXTRACT: &str = r##"import sys, yaml

def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)

with open(sys.argv[1]) as f:
    docs = list(yaml.safe_load_all(f))
found = [s for d in docs for s in strings(d) if "# rbuild-recipe: begin" in s]
if len(found) != 1:
    sys.exit(f"{len(found)} strings hold the begin marker, not 1")
sys.stdout.write(found[0])
"##;

/// The recipe's text holding its block: for YAML, the parsed string value.
fn recipe_text(recipe: &Recipe) -> String {
    let path = project().join("docs/ci").join(recipe.file);
    if !recipe.yaml {
        let text = std::fs::read_to_string(&path).unwrap();
        check_jenkinsfile(&text);
        return text;
    }
    let python = require_tool("python3", "python3");
    let out = Command::new(python)
        .args(["-c", EXTRACT])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !text(&out).contains("No module named 'yaml'"),
        "python3-yaml is missing (scripts/install-deps.sh installs it)"
    );
    assert!(out.status.success(), "{}: {}", recipe.file, text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The Jenkinsfile's braces balance, and its block is one `sh '''…'''` string (no Groovy
/// interpolation in it: the shell sees `$VAR`).
fn check_jenkinsfile(text: &str) {
    let opens = text.matches('{').count();
    assert_eq!(
        opens,
        text.matches('}').count(),
        "Jenkinsfile: unbalanced braces"
    );
    let begin = text.find(BEGIN).expect("Jenkinsfile: no begin marker");
    let end = text.find(END).expect("Jenkinsfile: no end marker");
    let opening = text[..begin]
        .rfind("'''")
        .expect("the block is in no ''' string");
    let closing = end + text[end..].find("'''").expect("the ''' string never ends");
    assert!(
        text[..opening].trim_end().ends_with("sh"),
        "Jenkinsfile: the block's ''' string is not an sh step's"
    );
    assert!(!text[opening + 3..closing].contains("'''"));
}

/// The lines between the markers (each marker exactly once, in order).
fn block(text: &str, file: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = |marker: &str| {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == marker)
            .collect();
        assert_eq!(found.len(), 1, "{file}: `{marker}` must be there once");
        found[0]
    };
    let (begin, end) = (at(BEGIN), at(END));
    assert!(begin < end, "{file}: the end marker comes first");
    lines[begin + 1..end].join("\n") + "\n"
}

/// The variables `script` expands (outside single quotes).
fn expanded(script: &str) -> Vec<String> {
    let chars: Vec<char> = script.chars().collect();
    let (mut out, mut single, mut double) = (Vec::new(), false, false);
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '$' if !single => {
                let start = i + 1 + usize::from(chars.get(i + 1) == Some(&'{'));
                let len = chars[start..].iter().take_while(|&&c| word(c)).count();
                if len > 0 && !chars[start].is_ascii_digit() {
                    out.push(chars[start..start + len].iter().collect());
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Variables the block uses that neither the CI job provides nor the block sets.
fn undeclared(script: &str) -> Vec<String> {
    let set: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().split_once('=').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    expanded(script)
        .into_iter()
        .filter(|v| !PROVIDED.contains(&v.as_str()) && !set.contains(&v.as_str()))
        .collect()
}

#[test]
fn every_recipe_is_well_formed_and_its_block_uses_only_what_ci_provides() {
    let readme = std::fs::read_to_string(project().join("docs/ci/README.md")).unwrap();
    for recipe in RECIPES {
        let script = block(&recipe_text(recipe), recipe.file);
        let f = recipe.file;
        assert!(readme.contains(f), "docs/ci/README.md does not name {f}");
        assert_eq!(undeclared(&script), Vec::<String>::new(), "{f}:\n{script}");
        for needed in [
            "--cache-from \"type=registry,ref=$CACHE_REF\"",
            "--cache-to \"type=registry,ref=$CACHE_REF,mode=max\"",
            "--metadata-file",
            "containerimage.digest",
        ] {
            assert!(script.contains(needed), "{f} lacks {needed}:\n{script}");
        }
        let pushes = script.contains("--push")
            || script.contains("push=true")
            || script.contains("type=registry,name=");
        assert!(pushes, "{f} does not push:\n{script}");
    }
    assert_eq!(expanded("a $X ${Y:-z} '$NOT' \"$Z\" $1"), ["X", "Y", "Z"]);
}

/// A registry holding the base image, and a multi-stage project building on it (a build
/// stage, a test stage, a final stage).
struct Fixture {
    reg: Registry,
    project: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let reg = Registry::start(RegistryAuth::None).unwrap();
    // The base comes from the registry, as in CI, so each run's store can start empty.
    let base = format!("{}/base/busybox:1", reg.addr);
    let seed = Env::new();
    seed.rbuild_ok(&["tag", "busybox:latest", &base]);
    seed.rbuild_ok(&["push", &base]);
    let project = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {base} AS build\n\
         WORKDIR /src\n\
         COPY hello.sh VERSION ./\n\
         RUN mkdir -p /out && sed \"s/@VERSION@/$(cat VERSION)/\" hello.sh > /out/hello \
         && chmod 755 /out/hello\n\
         FROM build AS test\n\
         RUN /out/hello | grep -qx 'hello 1.2.3' && echo ok > /tested\n\
         FROM {base}\n\
         COPY --from=test /tested /tested\n\
         COPY --from=build /out/hello /usr/local/bin/hello\n\
         RUN hello > /greeting\n\
         CMD [\"hello\"]\n"
    );
    let files = [
        ("Dockerfile", dockerfile.as_str()),
        ("hello.sh", "#!/bin/sh\necho \"hello @VERSION@\"\n"),
        ("VERSION", "1.2.3\n"),
    ];
    for (name, body) in files {
        std::fs::write(project.path().join(name), body).unwrap();
    }
    Fixture { reg, project }
}

/// One run of a block on a fresh store (an ephemeral runner): its output, its store and
/// the metadata file it wrote, parsed.
struct Run {
    out: Output,
    runner: tempfile::TempDir,
    meta: serde_json::Value,
}

impl Run {
    fn store(&self) -> std::path::PathBuf {
        self.runner.path().join("store")
    }
}

/// Runs `script` with `shell` as the CI would, with the variables a CI job sets, rbuild's
/// store in `RBUILD_ROOT` and the sealed environment of the test's own rbuild runs.
fn run_block(fx: &Fixture, shell: &[&str], script: &str, image: &str) -> Run {
    let runner = tempfile::tempdir().unwrap();
    let (store, cfg) = (runner.path().join("store"), runner.path().join("docker"));
    std::fs::create_dir(&cfg).unwrap();
    let work = runner.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let sealed = common::rbuild_command(&store, &cfg);
    let mut cmd = Command::new(shell[0]);
    for (k, v) in sealed.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .args(&shell[1..])
        .arg("-c")
        .arg(script)
        .current_dir(&work)
        .env("RBUILD", env!("CARGO_BIN_EXE_rbuild"))
        .env("RBUILD_ROOT", &store)
        .env("REGISTRY", &fx.reg.addr)
        .env("IMAGE", image)
        .env("CACHE_REF", format!("{}/app:buildcache", fx.reg.addr))
        .env("CONTEXT", fx.project.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "the block failed:\n{}", text(&out));
    let meta = std::fs::read(work.join("rbuild-metadata.json"))
        .unwrap_or_else(|e| panic!("no rbuild-metadata.json ({e}):\n{}", text(&out)));
    let meta = serde_json::from_slice(&meta).unwrap();
    Run { out, runner, meta }
}

/// The run pushed `image` with the digest its metadata file names (and printed it), from
/// the store it was given (`type=registry` keeps no tag there: the runner is thrown away).
fn check_pushed(r: &Run, image: &str) {
    let digest = r.meta["containerimage.digest"].as_str().unwrap();
    let out = skopeo_inspect(image);
    assert!(
        out.status.success(),
        "skopeo inspect {image}: {}",
        text(&out)
    );
    let remote: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(remote["Digest"], digest, "metadata vs registry: {}", r.meta);
    assert!(text(&r.out).contains(digest), "the digest was not printed");
    let manifest = r.store().join("blobs/sha256").join(&digest[7..]);
    assert!(
        manifest.exists(),
        "not built in RBUILD_ROOT: no {manifest:?}"
    );
}

fn check_recipe(recipe: &Recipe) {
    let script = block(&recipe_text(recipe), recipe.file);
    require_tool("jq", "jq");
    let fx = fixture();
    let first_image = format!("{}/app:ci-1", fx.reg.addr);
    let first = run_block(&fx, recipe.shell, &script, &first_image);
    check_pushed(&first, &first_image);
    assert!(counts(&text(&first.out)).1 >= 3, "{}", text(&first.out));

    let second_image = format!("{}/app:ci-2", fx.reg.addr);
    let second = run_block(&fx, recipe.shell, &script, &second_image);
    check_pushed(&second, &second_image);
    let log = text(&second.out);
    assert_eq!(counts(&log).1, 0, "the second runner ran steps:\n{log}");
    let remote = second.meta["rbuild.cache"]["remote"].as_u64().unwrap_or(0);
    assert!(
        remote > 0,
        "nothing came from the registry cache: {}",
        second.meta
    );
}

#[test]
fn the_github_actions_recipe_pushes_and_a_fresh_runner_reuses_its_cache() {
    check_recipe(&GITHUB);
}

#[test]
fn the_gitlab_ci_recipe_pushes_and_a_fresh_runner_reuses_its_cache() {
    check_recipe(&GITLAB);
}

#[test]
fn the_jenkinsfile_recipe_pushes_and_a_fresh_runner_reuses_its_cache() {
    check_recipe(&JENKINS);
}

#[test]
fn the_kubernetes_job_recipe_pushes_and_a_fresh_runner_reuses_its_cache() {
    check_recipe(&KUBERNETES);
}

/// docs/ci/kubernetes-unprivileged.yaml is one Pod with the settings docs/SECURITY.md gives
/// for a build in a user namespace: not privileged, RuntimeDefault, hostUsers false, /proc
/// unmasked, SYS_ADMIN only as the Pod namespace's capability, the store on an emptyDir.
#[test]
fn the_unprivileged_pod_builds_in_a_user_namespace_under_runtime_default() {
    let python = require_tool("python3", "python3");
    let path = project().join("docs/ci/kubernetes-unprivileged.yaml");
    let to_json = "import sys, yaml, json\n\
                   docs = list(yaml.safe_load_all(open(sys.argv[1])))\n\
                   assert len(docs) == 1, len(docs)\n\
                   print(json.dumps(docs[0]))";
    let out = Command::new(python)
        .args(["-c", to_json])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pod: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pod["kind"], "Pod");
    let spec = &pod["spec"];
    assert_eq!(spec["hostUsers"], false);
    assert_eq!(
        spec["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let rbuild = spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rbuild")
        .unwrap();
    let sc = &rbuild["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(sc["procMount"], "Unmasked");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(sc["capabilities"]["add"], serde_json::json!(["SYS_ADMIN"]));
    let script = rbuild["args"][0].as_str().unwrap();
    assert!(script.contains("rbuild --root /store build") && script.contains("--push"));
    let store = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "store")
        .unwrap();
    assert!(
        store["emptyDir"].is_object(),
        "overlay uppers need a real filesystem"
    );
}
