use std::io::{Read, Write};

use super::*;

/// Compressible, non-trivial text-like data.
fn text(len: usize) -> Vec<u8> {
    let mut x: u32 = 7;
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if i % 11 == 0 {
                b'a' + (x >> 27) as u8
            } else {
                b"export const value = 42;\n"[i % 25]
            }
        })
        .collect()
}

/// Incompressible bytes (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn gzip(data: &[u8], level: u32, workers: usize, write_size: usize) -> Vec<u8> {
    let mut w = ParGzWriter::with_workers(Vec::new(), level, workers).unwrap();
    for piece in data.chunks(write_size.max(1)) {
        w.write_all(piece).unwrap();
    }
    w.finish().unwrap()
}

/// Decodes as a single gzip member: what a strict (non-multistream) reader sees.
fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn round_trips_as_one_member() {
    for len in [0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345] {
        let mut data = text(len);
        data.extend(noise(len / 2));
        let gz = gzip(&data, 6, 2, 70_001);
        assert_eq!(gunzip(&gz), data, "len {len}");
        // Nothing after the single member.
        let mut d = flate2::read::GzDecoder::new(&gz[..]);
        std::io::copy(&mut d, &mut std::io::sink()).unwrap();
    }
}

#[test]
fn output_does_not_depend_on_workers_or_write_sizes() {
    let mut data = text(3 * CHUNK);
    data.extend(noise(2 * CHUNK + 777));
    let one = gzip(&data, 6, 1, CHUNK);
    assert_eq!(one, gzip(&data, 6, 2, 4096));
    assert_eq!(one, gzip(&data, 6, 4, 1_000_003));
}

#[test]
fn incompressible_chunks_are_stored_cheaply() {
    let data = noise(4 * CHUNK);
    let gz = gzip(&data, 6, 2, CHUNK);
    // Stored blocks: 5 bytes per 64 KiB plus sync markers, header and trailer.
    let overhead = gz.len() - data.len();
    assert!(overhead < data.len() / 1000, "overhead {overhead}");
    assert!(incompressible(&data[..CHUNK]));
    assert_eq!(gunzip(&gz), data);
}

#[test]
fn compressible_data_compresses_like_serial_gzip() {
    let data = text(4 * CHUNK);
    assert!(!incompressible(&data[..CHUNK]));
    let par = gzip(&data, 6, 2, CHUNK);
    let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    serial.write_all(&data).unwrap();
    let serial = serial.finish().unwrap();
    // Chunking with a primed dictionary loses almost nothing.
    assert!(
        par.len() <= serial.len() + serial.len() / 50 + 64,
        "parallel {} vs serial {}",
        par.len(),
        serial.len()
    );
}

#[test]
fn header_is_fixed_and_trailer_holds_crc_and_size() {
    let data = text(5000);
    let gz = gzip(&data, 6, 1, 5000);
    assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    let n = gz.len();
    assert_eq!(gz[n - 8..n - 4], crc.sum().to_le_bytes());
    assert_eq!(gz[n - 4..], 5000u32.to_le_bytes());
    assert_eq!(header(9)[8], 2);
    assert_eq!(header(1)[8], 4);
}

#[test]
fn level_zero_is_valid_gzip() {
    let data = text(2 * CHUNK + 3);
    assert_eq!(gunzip(&gzip(&data, 0, 2, 9999)), data);
}

#[test]
fn gzip_tool_reads_the_output() {
    let Ok(out) = std::process::Command::new("gzip").arg("--version").output() else {
        panic!("this test needs the gzip tool (Debian package gzip)");
    };
    assert!(out.status.success());
    let mut data = text(2 * CHUNK);
    data.extend(noise(CHUNK + 5));
    let gz = gzip(&data, 6, 2, 65536);
    let mut child = std::process::Command::new("gzip")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&gz).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
}
