//! Read-only memory maps of block files: the only `unsafe` in the crate.
//!
//! Blocks are read through maps so that resident memory does not grow with the data stored: the kernel
//! pages file contents in on access and drops them under memory pressure.

#![allow(unsafe_code)]

use std::io;

use memmap2::Mmap;

/// Maps all of `file` read-only. An empty file gives an empty map (mapping zero bytes is an error on Linux).
pub(crate) fn map(file: &std::fs::File) -> io::Result<Option<Mmap>> {
    if file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: `Mmap::map` is unsafe because another process (or this one) could modify or truncate the
    // file while it is mapped, which would change memory we hand out as `&[u8]` (or raise SIGBUS on
    // truncation). We only map block files, which are written completely, fsynced and renamed into place
    // before they are ever opened, and are never modified afterwards: Diamond deletes a block by renaming
    // its directory and unlinking the files, which keeps the mapped inodes alive until the map is dropped.
    // The data directory is held under an exclusive lock (`<data>/lock`), so no second Diamond writes it.
    // A foreign process truncating our files is outside what we can defend against, as for Prometheus.
    let m = unsafe { Mmap::map(file)? };
    Ok(Some(m))
}
