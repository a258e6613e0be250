//! Writes the layer of an overlay-format directory to a file and prints its digests.
//!
//! Usage: `mklayer <dir> <out> [gzip[:level]|zstd[:level]|none] [source-date-epoch]`

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use rbuild_layer::{write_layer, Compression, WriteOptions};

fn parse_compression(s: &str) -> Option<Compression> {
    let (name, level) = s.split_once(':').map_or((s, None), |(n, l)| (n, Some(l)));
    match name {
        "none" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip {
            level: level.map_or(Some(6), |l| l.parse().ok())?,
        }),
        "zstd" => Some(Compression::Zstd {
            level: level.map_or(Some(3), |l| l.parse().ok())?,
        }),
        _ => None,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: mklayer <dir> <out> [gzip[:level]|zstd[:level]|none] [source-date-epoch]"
        );
        return ExitCode::from(2);
    }
    let Some(compression) = parse_compression(args.get(3).map_or("gzip", String::as_str)) else {
        eprintln!("unknown compression {:?}", args[3]);
        return ExitCode::from(2);
    };
    let source_date_epoch = args.get(4).and_then(|s| s.parse().ok());
    let opts = WriteOptions {
        compression,
        source_date_epoch,
    };
    let out = match File::create(&args[2]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("creating {}: {e}", args[2]);
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    match write_layer(
        Path::new(&args[1]),
        &opts,
        &mut BufWriter::with_capacity(1 << 20, out),
    ) {
        Ok(d) => {
            println!("diff_id    {}", d.diff_id);
            println!("digest     {}", d.digest);
            println!("size       {}", d.size);
            println!("media_type {}", d.media_type);
            println!("entries    {}", d.entries);
            println!("seconds    {:.2}", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
