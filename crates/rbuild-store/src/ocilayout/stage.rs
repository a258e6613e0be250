//! Blobs read from a layout wait here, hashed, until the import has verified everything it
//! needs; only then are they committed to the store. Small ones wait in memory (while a budget
//! lasts), the rest in a private scratch directory of the store, which a crash leaves for the
//! next `Store::open` to sweep.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Cursor, Read};
use std::path::PathBuf;

use rbuild_oci::{Digest, Sha256Writer};

use crate::error::{Result, StoreError};
use crate::ingest::Verified;
use crate::snapshots::ScratchDir;
use crate::Store;

/// Blobs up to this size wait in memory (JSON, tiny layers) while the budget lasts.
const SMALL: u64 = 4 << 20;

/// Total bytes held in memory. An archive of 50,000 junk members is refused (or ignored)
/// without 50,000 synced writes.
const MEMORY_BUDGET: u64 = 64 << 20;

/// Where a staged blob's bytes are.
enum Held {
    Mem(Vec<u8>),
    File(PathBuf),
}

/// Hashed, uncommitted blobs by digest.
pub(crate) struct Stage {
    dir: ScratchDir,
    files: u64,
    budget: u64,
    held: HashMap<Digest, (Held, u64)>,
}

impl Stage {
    /// An empty stage in a fresh scratch directory of `store`.
    pub fn new(store: &Store) -> Result<Stage> {
        Ok(Stage {
            dir: store.scratch()?,
            files: 0,
            budget: MEMORY_BUDGET,
            held: HashMap::new(),
        })
    }

    /// The size of a staged blob.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        self.held.get(digest).map(|(_, size)| *size)
    }

    /// Streams `reader` (of `size_hint` bytes, if known) in, hashing it. With `expected`, a
    /// blob whose digest or size differs is refused and not kept. Returns its digest and size.
    pub fn put(
        &mut self,
        reader: &mut dyn Read,
        size_hint: Option<u64>,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Digest, u64), StageError> {
        let small = size_hint.filter(|s| *s <= SMALL && *s <= self.budget);
        let (held, digest, size) = match small {
            Some(hint) => {
                let mut data = Vec::with_capacity(hint as usize);
                // One byte more than announced, so a longer blob is a size mismatch.
                reader.take(hint + 1).read_to_end(&mut data)?;
                let digest = Digest::of(&data);
                let size = data.len() as u64;
                (Held::Mem(data), digest, size)
            }
            None => self.spill(reader)?,
        };
        check(&digest, size, expected)?;
        if let Held::Mem(data) = &held {
            self.budget = self.budget.saturating_sub(data.len() as u64);
        }
        self.held.entry(digest.clone()).or_insert((held, size));
        Ok((digest, size))
    }

    fn spill(&mut self, reader: &mut dyn Read) -> Result<(Held, Digest, u64), StageError> {
        self.files += 1;
        let path = self.dir.path().join(self.files.to_string());
        let write = |source| StageError::Write {
            path: path.clone(),
            source,
        };
        let file = File::create(&path).map_err(write)?;
        let mut out = Sha256Writer::new(BufWriter::with_capacity(1 << 20, file));
        io::copy(reader, &mut out)?;
        let (digest, size, buf) = out.finish();
        buf.into_inner().map_err(|e| write(e.into_error()))?;
        Ok((Held::File(path), digest, size))
    }

    /// Opens a staged blob for reading.
    pub fn open(&self, digest: &Digest) -> Option<io::Result<Box<dyn Read + Send>>> {
        let (held, _) = self.held.get(digest)?;
        Some(match held {
            // At most 4 MiB: a copy keeps the reader free of the stage's lifetime.
            Held::Mem(data) => Ok(Box::new(Cursor::new(data.clone()))),
            Held::File(path) => File::open(path).map(|f| Box::new(f) as Box<dyn Read + Send>),
        })
    }

    /// A whole staged blob.
    pub fn bytes(&self, digest: &Digest) -> Option<io::Result<Vec<u8>>> {
        let (held, _) = self.held.get(digest)?;
        Some(match held {
            Held::Mem(data) => Ok(data.clone()),
            Held::File(path) => std::fs::read(path),
        })
    }

    /// Moves a staged blob into the store (a no-op for one not staged). Memory blobs are
    /// written; files are renamed in, as an ingest would be.
    pub fn commit(&mut self, store: &Store, digest: &Digest) -> Result<()> {
        match self.held.remove(digest) {
            None => Ok(()),
            Some((Held::Mem(data), _)) => store.put_blob(&data).map(drop),
            Some((Held::File(path), size)) => {
                Verified::adopt(
                    &store.layout,
                    &store.fresh_blobs,
                    path,
                    digest.clone(),
                    size,
                )?
                .commit()?;
                Ok(())
            }
        }
    }
}

/// Checks a staged blob against what its name or descriptor says.
fn check(digest: &Digest, size: u64, expected: Option<(&Digest, Option<u64>)>) -> Result<()> {
    let Some((want, want_size)) = expected else {
        return Ok(());
    };
    if want != digest {
        return Err(StoreError::DigestMismatch {
            expected: want.clone(),
            actual: digest.clone(),
        });
    }
    match want_size {
        Some(w) if w != size => Err(StoreError::SizeMismatch {
            digest: digest.clone(),
            expected: w,
            actual: size,
        }),
        _ => Ok(()),
    }
}

/// Why a blob could not be staged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StageError {
    /// Reading the source failed.
    #[error("reading")]
    Read(#[from] io::Error),
    /// Writing the scratch file failed.
    #[error("writing {path}")]
    Write {
        /// The scratch file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The blob is not what it should be, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StageError {
    /// The layout error for a blob at `path` (a file or archive member).
    pub fn at(self, path: PathBuf) -> super::LayoutError {
        use super::LayoutError;
        match self {
            StageError::Read(source) => LayoutError::Io { path, source },
            StageError::Write { path, source } => {
                LayoutError::Store(StoreError::Io { path, source })
            }
            StageError::Store(source) => LayoutError::Blob { path, source },
        }
    }
}
