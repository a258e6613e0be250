//! Images the store and export tests share: a small build context, and skopeo's raw view of
//! an image's manifest.

use std::path::Path;

use super::{run_tool, write_file};

/// A small image whose contents the output tests check.
pub fn small_context(dir: &Path) {
    write_file(&dir.join("msg.txt"), b"exported\n", 0o640);
    let dockerfile = "FROM busybox:latest\nCOPY msg.txt /msg.txt\nRUN rm /bin/vi && mkdir /made && echo run > /made/by-run\nCMD [\"cat\", \"/msg.txt\"]\n";
    write_file(&dir.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
}

/// `skopeo inspect --raw` of `image`: its manifest as JSON.
pub fn skopeo_inspect(image: &str) -> serde_json::Value {
    let out = run_tool("skopeo", "skopeo", &["inspect", "--raw", image]);
    serde_json::from_str(&out).unwrap()
}
