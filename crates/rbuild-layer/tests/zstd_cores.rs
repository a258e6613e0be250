//! zstd layers do not depend on the machine: the writer rbuild uses (`write_layer` with
//! `Compression::Zstd`, whose worker count follows the cores the thread may use, capped at
//! two) gives the same bytes on one core as on two. The thread's CPU affinity is what
//! `available_parallelism` reads, and zstd's workers inherit it.
//!
//! Four workers cannot be reached this way (the cap is two); testing them needs a seam in
//! `rbuild-layer/src/compression.rs` that takes the worker count (see the issue 18 report).

mod common;

use std::path::Path;

use common::write;
use rbuild_layer::{write_layer, Compression, LayerDigests, WriteOptions};

/// 24 MiB in a few files, compressible but not trivially: several 4 MiB zstd jobs.
fn tree(dir: &Path) {
    let mut x: u32 = 12345;
    for f in 0..6 {
        let mut data = Vec::with_capacity(4 << 20);
        while data.len() < 4 << 20 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let word = format!("{:08x} line {} of file {f}\n", x >> 8, data.len() / 32);
            data.extend_from_slice(word.as_bytes());
        }
        write(&dir.join(format!("f{f}")), &data);
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Writes the layer of `dir` with zstd on a thread allowed only `cpus`.
fn zstd_layer_on(cpus: &[usize], dir: &Path) -> (LayerDigests, Vec<u8>) {
    let cpus = cpus.to_vec();
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: as above; sched_setaffinity(0, ...) changes only this thread.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                for &c in &cpus {
                    libc::CPU_SET(c, &mut set);
                }
                let size = std::mem::size_of::<libc::cpu_set_t>();
                assert_eq!(libc::sched_setaffinity(0, size, &set), 0);
            }
            let seen = std::thread::available_parallelism().unwrap().get();
            assert_eq!(
                seen,
                cpus.len(),
                "the thread sees {seen} cores, not {}",
                cpus.len()
            );
            let opts = WriteOptions {
                compression: Compression::Zstd { level: 3 },
                source_date_epoch: None,
            };
            let mut out = Vec::new();
            (write_layer(dir, &opts, &mut out).unwrap(), out)
        })
        .join()
        .unwrap()
    })
}

#[test]
fn zstd_layers_are_the_same_on_one_core_and_on_two() {
    let cpus = allowed_cpus();
    assert!(
        cpus.len() >= 2,
        "this test needs two cores to compare 1 and 2 zstd workers; the process may use {cpus:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let (one, one_bytes) = zstd_layer_on(&cpus[..1], dir.path());
    let (two, two_bytes) = zstd_layer_on(&cpus[..2], dir.path());
    assert!(
        one_bytes.len() < 20 << 20,
        "the data did not compress: the test proves little"
    );
    assert_eq!(one, two);
    assert!(
        one_bytes == two_bytes,
        "zstd output differs between one and two workers"
    );
}
