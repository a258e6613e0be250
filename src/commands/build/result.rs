//! What `rbuild build` says about its result: the summary lines, `-q`'s image ID, and the
//! `--iidfile` and `--metadata-file` CI systems read instead of scraping logs.

use std::path::PathBuf;

use anyhow::Context;
use rbuild_build::BuildResult;
use rbuild_store::OutputFile;

/// Where the result goes besides stderr.
pub(super) struct ResultOutputs {
    /// `-q`: only the image ID, on stdout.
    pub quiet: bool,
    /// `--metadata-file`.
    pub metadata_file: Option<PathBuf>,
    /// `--iidfile`.
    pub iidfile: Option<PathBuf>,
    /// `--progress=rawjson`: the summary is one more JSON line.
    pub json: bool,
}

/// The image ID: the config digest of a single-platform image, an index's own digest.
fn image_id(result: &BuildResult) -> String {
    match result.platforms.as_slice() {
        [(_, one)] => one.config.to_string(),
        _ => result.manifest.digest.to_string(),
    }
}

/// Prints and writes what the build produced.
pub(super) fn report(
    result: &BuildResult,
    outputs: &ResultOutputs,
    seconds: f64,
) -> anyhow::Result<()> {
    let id = image_id(result);
    if let Some(path) = &outputs.iidfile {
        OutputFile::write_all_to(path, id.as_bytes())
            .with_context(|| format!("cannot write --iidfile {}", path.display()))?;
    }
    if let Some(path) = &outputs.metadata_file {
        let json = serde_json::to_vec_pretty(&metadata(result))?;
        OutputFile::write_all_to(path, &json)
            .with_context(|| format!("cannot write --metadata-file {}", path.display()))?;
    }
    if outputs.quiet {
        crate::outln!("{id}");
        return Ok(());
    }
    if outputs.json {
        let mut v = metadata(result);
        v["type"] = serde_json::Value::String("result".into());
        v["image_id"] = serde_json::Value::String(id);
        v["seconds"] = serde_json::Value::from(seconds);
        eprintln!("{v}");
        return Ok(());
    }
    summary(result, seconds);
    Ok(())
}

fn summary(result: &BuildResult, seconds: f64) {
    for (platform, image) in &result.platforms {
        eprintln!(
            "writing image {} for {} done",
            image.config,
            platform.to_spec()
        );
    }
    if result.platforms.len() > 1 {
        eprintln!("writing index {} done", result.manifest.digest);
    }
    for tag in &result.tags {
        eprintln!("naming to {tag} done");
    }
    for (name, digest) in &result.pushed {
        eprintln!("pushed {name}: {digest}");
    }
    eprintln!(
        "build finished in {seconds:.1}s: manifest {} ({} steps cached, {} run)",
        result.manifest.digest, result.cache.cached, result.cache.executed
    );
}

/// buildx's metadata keys, plus rbuild's cache statistics and pushes.
fn metadata(result: &BuildResult) -> serde_json::Value {
    let mut names: Vec<&str> = result.tags.iter().map(String::as_str).collect();
    let pushed = result.pushed.iter().map(|(n, _)| n);
    for name in pushed.chain(&result.canonical) {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut v = serde_json::json!({
        "containerimage.digest": result.manifest.digest.to_string(),
        "containerimage.descriptor": result.manifest,
        "image.name": names.join(","),
        "rbuild.cache": {
            "cached": result.cache.cached,
            "executed": result.cache.executed,
            "remote": result.cache.remote,
        },
        "rbuild.pushed": result.pushed.iter()
            .map(|(n, d)| serde_json::json!({"name": n, "digest": d.to_string()}))
            .collect::<Vec<_>>(),
    });
    if let [(_, one)] = result.platforms.as_slice() {
        v["containerimage.config.digest"] = serde_json::Value::String(one.config.to_string());
    }
    v
}
