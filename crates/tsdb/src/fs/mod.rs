//! File-system seam: the WAL and the block writer reach the disk only through [`Dir`] and [`File`], so
//! tests can inject failures ([`FaultyDir`]) where the real thing would need a full disk or a dying device.
//! Blocks are read through [`Dir::map`] ([`Mapped`]: a read-only memory map on disk, see `mmap.rs`).
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

mod mmap;

use std::collections::{HashMap, HashSet};
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
    /// Renames a file or directory of this directory, replacing `to` if it is a file. The caller fsyncs
    /// the directory afterwards.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// The subdirectory `name`, created when missing (the caller fsyncs this directory afterwards).
    fn subdir(&self, name: &str) -> io::Result<Arc<dyn Dir>>;
    /// Names of the subdirectories (unsorted).
    fn list_dirs(&self) -> io::Result<Vec<String>>;
    /// Deletes a subdirectory and everything in it.
    fn remove_dir_all(&self, name: &str) -> io::Result<()>;
    /// The length of a file in bytes.
    fn file_len(&self, name: &str) -> io::Result<u64>;
    /// The content of a file for reading in place: a read-only memory map on disk, a copy elsewhere.
    fn map(&self, name: &str) -> io::Result<Mapped> {
        Ok(Mapped(MappedInner::Owned(self.read(name)?)))
    }
}

/// A file's bytes as returned by [`Dir::map`].
pub struct Mapped(MappedInner);

enum MappedInner {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            MappedInner::Map(m) => m,
            MappedInner::Owned(v) => v,
        }
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} bytes)", self.len())
    }
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

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path.join(from), self.path.join(to))
    }

    fn subdir(&self, name: &str) -> io::Result<Arc<dyn Dir>> {
        Ok(Arc::new(DiskDir::open(&self.path.join(name))?))
    }

    fn list_dirs(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.path)? {
            let e = e?;
            if e.file_type()?.is_dir()
                && let Ok(name) = e.file_name().into_string()
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        std::fs::remove_dir_all(self.path.join(name))
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path.join(name))?.len())
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        let f = std::fs::File::open(self.path.join(name))?;
        Ok(Mapped(match mmap::map(&f)? {
            Some(m) => MappedInner::Map(m),
            None => MappedInner::Owned(Vec::new()),
        }))
    }
}

/// Files in memory; fsyncs do nothing. Clones share the same files. Subdirectories are name prefixes
/// (`a/b`) of one shared map.
#[derive(Debug, Clone, Default)]
pub struct MemDir {
    files: Arc<parking_lot::Mutex<MemFs>>,
    /// Empty for the root, else `path/`.
    prefix: String,
}

#[derive(Debug, Default)]
struct MemFs {
    files: HashMap<String, Vec<u8>>,
    dirs: HashSet<String>,
}

impl MemDir {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates or replaces a file with `data`.
    pub fn put(&self, name: &str, data: Vec<u8>) {
        self.files.lock().files.insert(self.full(name), data);
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Direct children of this directory among `names` (full paths).
    fn children<'a>(&self, names: impl Iterator<Item = &'a String>) -> Vec<String> {
        names
            .filter_map(|n| n.strip_prefix(&self.prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
            .collect()
    }
}

struct MemFile {
    files: Arc<parking_lot::Mutex<MemFs>>,
    name: String,
}

impl File for MemFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut g = self.files.lock();
        match g.files.get_mut(&self.name) {
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

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, name.to_owned())
}

impl Dir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let g = self.files.lock();
        Ok(self.children(g.files.keys()))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.files
            .lock()
            .files
            .get(&self.full(name))
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn File>> {
        let full = self.full(name);
        self.files.lock().files.insert(full.clone(), Vec::new());
        Ok(Box::new(MemFile {
            files: Arc::clone(&self.files),
            name: full,
        }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut g = self.files.lock();
        let f = g.files.get_mut(&self.full(name)).ok_or_else(|| not_found(name))?;
        f.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.files
            .lock()
            .files
            .remove(&self.full(name))
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (self.full(from), self.full(to));
        let mut g = self.files.lock();
        if let Some(data) = g.files.remove(&from) {
            g.files.insert(to, data);
            return Ok(());
        }
        if !g.dirs.remove(&from) {
            return Err(not_found(&from));
        }
        let (fp, tp) = (format!("{from}/"), format!("{to}/"));
        let moved: Vec<String> = g.files.keys().filter(|k| k.starts_with(&fp)).cloned().collect();
        for k in moved {
            if let Some(d) = g.files.remove(&k) {
                g.files.insert(format!("{tp}{}", &k[fp.len()..]), d);
            }
        }
        let dirs: Vec<String> = g.dirs.iter().filter(|k| k.starts_with(&fp)).cloned().collect();
        for k in dirs {
            g.dirs.remove(&k);
            g.dirs.insert(format!("{tp}{}", &k[fp.len()..]));
        }
        g.dirs.insert(to);
        Ok(())
    }

    fn subdir(&self, name: &str) -> io::Result<Arc<dyn Dir>> {
        let full = self.full(name);
        self.files.lock().dirs.insert(full.clone());
        Ok(Arc::new(MemDir {
            files: Arc::clone(&self.files),
            prefix: format!("{full}/"),
        }))
    }

    fn list_dirs(&self) -> io::Result<Vec<String>> {
        let g = self.files.lock();
        Ok(self.children(g.dirs.iter()))
    }

    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        let full = self.full(name);
        let p = format!("{full}/");
        let mut g = self.files.lock();
        if !g.dirs.remove(&full) {
            return Err(not_found(name));
        }
        g.files.retain(|k, _| !k.starts_with(&p));
        g.dirs.retain(|k| !k.starts_with(&p));
        Ok(())
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        self.files
            .lock()
            .files
            .get(&self.full(name))
            .map(|f| f.len() as u64)
            .ok_or_else(|| not_found(name))
    }
}

/// A shared directory handle is a directory too (subdirectories of a [`FaultyDir`] wrap one).
impl Dir for Arc<dyn Dir> {
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        (**self).read(name)
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn File>> {
        (**self).create(name)
    }
    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        (**self).truncate(name, len)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        (**self).remove(name)
    }
    fn sync_dir(&self) -> io::Result<()> {
        (**self).sync_dir()
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn subdir(&self, name: &str) -> io::Result<Arc<dyn Dir>> {
        (**self).subdir(name)
    }
    fn list_dirs(&self) -> io::Result<Vec<String>> {
        (**self).list_dirs()
    }
    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        (**self).remove_dir_all(name)
    }
    fn file_len(&self, name: &str) -> io::Result<u64> {
        (**self).file_len(name)
    }
    fn map(&self, name: &str) -> io::Result<Mapped> {
        (**self).map(name)
    }
}

/// Switches shared between a [`FaultyDir`] and the test that drives it.
#[derive(Debug)]
pub struct Faults {
    fail_write: AtomicBool,
    fail_sync: AtomicBool,
    /// Bytes that may still be written before writes fail as a full disk would; negative = unlimited.
    space_left: std::sync::atomic::AtomicI64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_write: AtomicBool::new(false),
            fail_sync: AtomicBool::new(false),
            space_left: std::sync::atomic::AtomicI64::new(-1),
        }
    }
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

    /// Lets `bytes` more bytes be written, then fails every write with "no space left on device"
    /// (`None`: unlimited again). A write that does not fit writes nothing.
    pub fn disk_space(&self, bytes: Option<u64>) {
        let v = bytes.map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX));
        self.space_left.store(v, Ordering::SeqCst);
    }

    fn check_write(&self) -> io::Result<()> {
        if self.fail_write.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }

    fn take_space(&self, n: usize) -> io::Result<()> {
        self.check_write()?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let r = self
            .space_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                if left < 0 {
                    Some(left)
                } else if left >= n {
                    Some(left - n)
                } else {
                    None
                }
            });
        match r {
            Ok(_) => Ok(()),
            Err(_) => Err(io::Error::new(io::ErrorKind::StorageFull, "injected full disk")),
        }
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
        self.faults.take_space(buf.len())?;
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

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.faults.check_write()?;
        self.inner.rename(from, to)
    }

    fn subdir(&self, name: &str) -> io::Result<Arc<dyn Dir>> {
        self.faults.check_write()?;
        let inner = self.inner.subdir(name)?;
        Ok(Arc::new(FaultyDir {
            inner,
            faults: Arc::clone(&self.faults),
        }))
    }

    fn list_dirs(&self) -> io::Result<Vec<String>> {
        self.inner.list_dirs()
    }

    fn remove_dir_all(&self, name: &str) -> io::Result<()> {
        self.faults.check_write()?;
        self.inner.remove_dir_all(name)
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        self.inner.file_len(name)
    }

    fn map(&self, name: &str) -> io::Result<Mapped> {
        self.inner.map(name)
    }
}
