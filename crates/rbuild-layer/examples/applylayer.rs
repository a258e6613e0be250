//! Unpacks a layer blob (gzip, zstd or plain tar) into a directory.
//!
//! Usage: `applylayer <blob> <target-dir> [overlay|apply]`

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rbuild_layer::{apply_layer, decompress, ApplyOptions, WhiteoutMode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: applylayer <blob> <target-dir> [overlay|apply]");
        return ExitCode::from(2);
    }
    let whiteouts = match args.get(3).map(String::as_str) {
        None | Some("overlay") => WhiteoutMode::Overlay,
        Some("apply") => WhiteoutMode::Apply,
        Some(other) => {
            eprintln!("unknown whiteout mode {other:?}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let result = File::open(&args[1])
        .map_err(|e| format!("opening {}: {e}", args[1]))
        .and_then(|f| decompress(Box::new(BufReader::new(f))).map_err(|e| e.to_string()))
        .and_then(|mut r| {
            apply_layer(
                &mut r,
                Path::new(&args[2]),
                &ApplyOptions {
                    whiteouts,
                    ..Default::default()
                },
            )
            .map_err(|e| e.to_string())
        });
    match result {
        Ok(stats) => {
            println!("entries {}", stats.entries);
            println!("bytes   {}", stats.bytes);
            println!("seconds {:.2}", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
