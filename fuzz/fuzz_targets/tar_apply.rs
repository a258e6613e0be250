//! The layer applier on arbitrary bytes (as a decompressed layer): it never panics, and never
//! writes outside its target. Each input is applied in both whiteout modes into a fresh
//! directory inside a scratch parent; anything next to the target afterwards is an escape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_layer::{apply_layer, ApplyOptions, WhiteoutMode};

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().expect("scratch dir");
    for (n, mode) in [WhiteoutMode::Overlay, WhiteoutMode::Apply].into_iter().enumerate() {
        let target = scratch.path().join(format!("root{n}"));
        std::fs::create_dir(&target).expect("target dir");
        let opts = ApplyOptions {
            whiteouts: mode,
            ..Default::default()
        };
        let _ = apply_layer(&mut &data[..], &target, &opts);
    }
    let mut names: Vec<_> = std::fs::read_dir(scratch.path())
        .expect("list scratch")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["root0", "root1"], "the applier wrote outside its target");
});
