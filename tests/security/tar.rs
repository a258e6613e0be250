//! kaniko CVE-2026-28406 (and the tar class before it): archive entries named `../x`, absolute
//! paths, writes through a symlink the archive made, hardlinks to files outside. Each attack of
//! `common::hostile::attacks` is its own archive aimed at a host victim directory, fed to every
//! way an archive reaches rbuild: `rbuild import`, `rbuild load` of an OCI archive (then built
//! on, which unpacks it as a snapshot, and exported with type=local, which applies it), ADD of a
//! local archive, and a layer pulled from a registry. (The first three moved here from
//! e2e_layers.rs; the applier's own tests are crates/rbuild-layer/tests/malicious.rs.)

use crate::common::hostile::{assert_fine, attacks, evil_tar, oci_archive_with_layer, Target};
use std::path::Path;

use crate::common::{text, write_file, Env};

/// Runs `attack(env, target, ctx, name, script)` for each attack of `common::hostile` on one
/// store, aimed at one victim directory, with a scratch context; the store must check clean.
fn each_attack(mut attack: impl FnMut(&Env, &Target, &Path, &str, &str)) {
    let env = Env::new();
    let target = Target::new();
    let ctx = tempfile::tempdir().unwrap();
    for (name, script) in attacks(&target.path()) {
        attack(&env, &target, ctx.path(), name, &script);
    }
    env.check_ok();
}

#[test]
fn cve_2026_28406_hostile_archives_through_import_write_nothing_outside_the_root() {
    each_attack(|env, target, _, name, script| {
        let tar = env.root.path().join(format!("{name}.tar"));
        evil_tar(&tar, script);
        let out = env.rbuild(&["import", tar.to_str().unwrap(), &format!("evil-{name}:1")]);
        if target.after(name, &format!("import {name}"), &out) {
            unpack_harmless(env, target, &format!("evil-{name}:1"), "ok/file");
        }
    });
}

/// Whatever an accepted attack kept is inside the image: unpacking it with umoci must be
/// harmless too, and `fine` (the archive's ordinary file) arrive intact.
fn unpack_harmless(env: &Env, target: &Target, tag: &str, fine: &str) {
    let rootfs = env.umoci_unpack(tag).join("rootfs");
    assert_fine(&rootfs.join(fine));
    target.assert_untouched(&format!("umoci unpack of {tag}"));
}

/// An OCI archive holding `name`'s attack as its only layer, under `tag`.
fn hostile_archive(env: &Env, name: &str, script: &str, tag: &str) -> std::path::PathBuf {
    let layer = env.root.path().join(format!("{name}.layer.tar"));
    evil_tar(&layer, script);
    let archive = env.root.path().join(format!("{name}.oci.tar"));
    oci_archive_with_layer(&layer, &archive, tag);
    archive
}

#[test]
fn cve_2026_28406_hostile_layers_loaded_then_built_on_and_exported_write_nothing_outside() {
    each_attack(|env, target, ctx, name, script| {
        let tag = format!("evil-{name}:1");
        let archive = hostile_archive(env, name, script, &tag);
        let out = env.rbuild(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.status.success(), "load {name}: {}", text(&out));
        build_on(env, target, ctx, name, &tag);
    });
}

/// Builds on the hostile `image` (a RUN unpacks its layer as a snapshot, overlay mode) and
/// exports with type=local (which applies it); checks the target after each.
fn build_on(env: &Env, target: &Target, ctx: &Path, name: &str, image: &str) {
    let dockerfile = format!("FROM {image}\nCOPY --from=busybox:latest /bin/busybox /busybox\nRUN [\"/busybox\", \"true\"]\n");
    write_file(&ctx.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    let local = env
        .root
        .path()
        .join(format!("local-{}", image.replace([':', '/'], "-")));
    let spec = format!("type=local,dest={}", local.display());
    let out = env.build_with(ctx, &["-o", &spec]);
    if target.after(name, &format!("build on {image}"), &out) {
        assert_fine(&local.join("ok/file"));
    }
}

#[test]
fn cve_2026_28406_hostile_archives_added_with_add_write_nothing_outside_the_root() {
    each_attack(|env, target, ctx, name, script| {
        let tar = ctx.join(format!("{name}.tar"));
        evil_tar(&tar, script);
        // ADD extracts a local archive; the RUN then works on top of what it wrote.
        let dockerfile =
            format!("FROM busybox:latest\nADD {name}.tar /x/\nRUN ls -laR /x > /listing\n");
        write_file(&ctx.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
        let local = env.root.path().join(format!("add-{name}"));
        let spec = format!("type=local,dest={}", local.display());
        let tag = format!("add-{name}:1");
        let extra = ["-t", &tag, "-o", "type=image", "-o", &spec];
        let out = env.build_with(ctx, &extra);
        if target.after(name, &format!("ADD {name}"), &out) {
            assert_fine(&local.join("x/ok/file"));
            unpack_harmless(env, target, &tag, "x/ok/file");
        }
    });
}

/// The same layers served by a registry (pushed there by skopeo, which copies blobs as they
/// are): `rbuild pull`, then a build on each that unpacks it and a type=local export.
#[test]
fn cve_2026_28406_hostile_layers_pulled_from_a_registry_write_nothing_outside() {
    use rbuild_testkit::{Registry, RegistryAuth};
    let reg = Registry::start(RegistryAuth::None).unwrap();
    each_attack(|env, target, ctx, name, script| {
        let archive = hostile_archive(env, name, script, "evil");
        let image = format!("{}/evil-{name}:1", reg.addr);
        let src = format!("oci-archive:{}:evil", archive.display());
        let dst = format!("docker://{image}");
        let copy = ["copy", "-q", "--dest-tls-verify=false", &src, &dst];
        crate::common::run_tool("skopeo", "skopeo", &copy);
        let out = env.rbuild(&["pull", &image]);
        if target.after(name, &format!("pull {name}"), &out) {
            build_on(env, target, ctx, name, &image);
        }
    });
}
