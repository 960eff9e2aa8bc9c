//! File-system seam: the WAL reaches the disk only through [`Dir`] and [`File`], so tests can inject
//! failures ([`FaultyDir`]) where the real thing would need a full disk or a dying device.
//!
//! [`DiskDir`] is the real implementation over one directory; [`MemDir`] keeps files in memory (fuzzing,
//! fast tests). [`FaultyDir`] wraps any `Dir` and fails writes or fsyncs on demand through its shared
//! [`Faults`] switches.
//!
//! ```
//! use diamond_tsdb::fs::{Dir, DiskDir, FaultyDir};
//! let tmp = tempfile::tempdir().unwrap();
//! let (dir, faults) = FaultyDir::new(DiskDir::open(tmp.path()).unwrap());
//! let mut f = dir.create("00000000").unwrap();
//! f.write_all(b"ok").unwrap();
//! faults.fail_sync(true);
//! assert!(f.sync().is_err());
//! ```

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A directory of flat files.
pub trait Dir: Send + Sync {
    /// Names of the files in the directory (unsorted).
    fn list(&self) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Creates (or truncates) a file for appending. The caller fsyncs the directory afterwards.
    fn create(&self, name: &str) -> io::Result<Box<dyn File>>;
    /// Shortens a file to `len` bytes and fsyncs it.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Deletes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Fsyncs the directory itself, making creations, truncations and deletions durable.
    fn sync_dir(&self) -> io::Result<()>;
}

/// A file open for appending.
pub trait File: Send {
    /// Writes all of `buf` at the end of the file.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Fsyncs the file's data (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// A real directory on disk.
#[derive(Debug, Clone)]
pub struct DiskDir {
    path: PathBuf,
}

impl DiskDir {
    /// Opens `path`, creating it (and its parents) when missing.
    pub fn open(path: &Path) -> io::Result<DiskDir> {
        std::fs::create_dir_all(path)?;
        Ok(DiskDir { path: path.to_owned() })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

struct DiskFile(std::fs::File);

impl File for DiskFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Dir for DiskDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.path)? {
            let e = e?;
            if let Ok(name) = e.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path.join(name))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn File>> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(self.path.join(name))?;
        Ok(Box::new(DiskFile(f)))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let f = OpenOptions::new().write(true).open(self.path.join(name))?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.path.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        // Opening a directory read-only and fsyncing it is how POSIX makes entry changes durable.
        std::fs::File::open(&self.path)?.sync_all()
    }
}

/// Files in memory; fsyncs do nothing. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemDir {
    files: Arc<parking_lot::Mutex<HashMap<String, Vec<u8>>>>,
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces a file with `data`.
    pub fn put(&self, name: &str, data: Vec<u8>) {
        self.files.lock().insert(name.to_owned(), data);
    }
}

struct MemFile {
    files: Arc<parking_lot::Mutex<HashMap<String, Vec<u8>>>>,
    name: String,
}

impl File for MemFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut g = self.files.lock();
        match g.get_mut(&self.name) {
            Some(f) => {
                f.extend_from_slice(buf);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::NotFound, "file removed")),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Dir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.files
            .lock()
            .get(name)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn File>> {
        self.files.lock().insert(name.to_owned(), Vec::new());
        Ok(Box::new(MemFile {
            files: Arc::clone(&self.files),
            name: name.to_owned(),
        }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut g = self.files.lock();
        let f = g
            .get_mut(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))?;
        f.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files
            .lock()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_owned()))
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Switches shared between a [`FaultyDir`] and the test that drives it.
#[derive(Debug, Default)]
pub struct Faults {
    fail_write: AtomicBool,
    fail_sync: AtomicBool,
}

impl Faults {
    /// Makes every later write fail (or succeed again).
    pub fn fail_write(&self, on: bool) {
        self.fail_write.store(on, Ordering::SeqCst);
    }

    /// Makes every later file or directory fsync fail (or succeed again).
    pub fn fail_sync(&self, on: bool) {
        self.fail_sync.store(on, Ordering::SeqCst);
    }

    fn check_write(&self) -> io::Result<()> {
        if self.fail_write.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }

    fn check_sync(&self) -> io::Result<()> {
        if self.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        Ok(())
    }
}

/// A [`Dir`] that fails on demand (see [`Faults`]).
pub struct FaultyDir<D> {
    inner: D,
    faults: Arc<Faults>,
}

impl<D: Dir> FaultyDir<D> {
    /// Wraps `inner`; returns the switches too.
    pub fn new(inner: D) -> (FaultyDir<D>, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        (
            FaultyDir {
                inner,
                faults: Arc::clone(&faults),
            },
            faults,
        )
    }
}

struct FaultyFile {
    inner: Box<dyn File>,
    faults: Arc<Faults>,
}

impl File for FaultyFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.faults.check_write()?;
        self.inner.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.faults.check_sync()?;
        self.inner.sync()
    }
}

impl<D: Dir> Dir for FaultyDir<D> {
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read(name)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn File>> {
        self.faults.check_write()?;
        Ok(Box::new(FaultyFile {
            inner: self.inner.create(name)?,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        self.faults.check_write()?;
        self.inner.truncate(name, len)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.faults.check_write()?;
        self.inner.remove(name)
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.faults.check_sync()?;
        self.inner.sync_dir()
    }
}
