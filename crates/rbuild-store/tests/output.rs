//! F11: an export destination that is a device, FIFO or socket is written into, never
//! replaced; a regular file is replaced atomically; a directory is refused.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rbuild_store::{OutputFile, StoreError};

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (mknod of a character device); run the tests as root"
    );
}

/// `mknod path c 1 3`: a second /dev/null.
fn mknod_null(path: &Path) {
    require_root();
    let mode = rustix::fs::Mode::from_raw_mode(0o666);
    let dev = rustix::fs::makedev(1, 3);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        mode,
        dev,
    )
    .unwrap();
}

fn assert_still_null(path: &Path) {
    let m = fs::symlink_metadata(path).unwrap();
    assert!(
        m.file_type().is_char_device(),
        "{} was replaced",
        path.display()
    );
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
}

fn write(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let mut out = OutputFile::create(path)?;
    out.write_all(data).unwrap();
    out.finish()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn f11_save_to_a_char_device_writes_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    mknod_null(&null);
    write(&null, b"an archive").unwrap();
    assert_still_null(&null);
    // Through a symlink too (as /dev/stdout is one).
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&null, &link).unwrap();
    write(&link, b"an archive").unwrap();
    assert_still_null(&null);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(entries(dir.path()), ["link", "null"]);
}

#[test]
fn f11_a_fifo_gets_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    write(&fifo, b"streamed").unwrap();
    assert_eq!(reader.join().unwrap(), b"streamed");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn f11_a_socket_gets_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        listener.accept().unwrap().0.read_to_end(&mut got).unwrap();
        got
    });
    write(&sock, b"over a socket").unwrap();
    assert_eq!(reader.join().unwrap(), b"over a socket");
    assert!(fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
}

#[test]
fn f11_a_directory_or_block_device_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("adir");
    fs::create_dir(&sub).unwrap();
    let err = write(&sub, b"x").unwrap_err();
    assert!(matches!(err, StoreError::OutputIsDirectory(_)), "{err}");
    assert!(err.to_string().contains("directory"));
    assert!(entries(&sub).is_empty());
    require_root();
    let blk = dir.path().join("blk");
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    let dev = rustix::fs::makedev(7, 250);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &blk,
        rustix::fs::FileType::BlockDevice,
        mode,
        dev,
    )
    .unwrap();
    let err = write(&blk, b"x").unwrap_err();
    assert!(err.to_string().contains("block device"), "{err}");
    assert!(fs::symlink_metadata(&blk)
        .unwrap()
        .file_type()
        .is_block_device());
}

#[test]
fn f11_a_regular_file_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.tar");
    fs::write(&file, b"old").unwrap();
    let mut out = OutputFile::create(&file).unwrap();
    out.write_all(b"new archive").unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"old", "visible before finish");
    drop(out);
    assert_eq!(fs::read(&file).unwrap(), b"old");
    assert_eq!(entries(dir.path()), ["out.tar"], "temp file left behind");
    write(&file, b"new archive").unwrap();
    assert_eq!(fs::read(&file).unwrap(), b"new archive");
    assert_eq!(entries(dir.path()), ["out.tar"]);
    OutputFile::write_all_to(&dir.path().join("iid"), b"sha256:x").unwrap();
    assert_eq!(fs::read(dir.path().join("iid")).unwrap(), b"sha256:x");
}

#[test]
fn f11_a_symlink_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.tar");
    let link = dir.path().join("link.tar");
    std::os::unix::fs::symlink("real.tar", &link).unwrap();
    // Dangling: the file it names is created.
    write(&link, b"first").unwrap();
    assert_eq!(fs::read(&real).unwrap(), b"first");
    write(&link, b"second").unwrap();
    assert_eq!(fs::read(&real).unwrap(), b"second");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
