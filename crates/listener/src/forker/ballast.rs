//! `--parent-memory SIZE`: private memory the parent maps and touches before it listens,
//! spread over many mappings, so that each `fork()` copies real page tables and VMAs as a
//! PHP-FPM master's does (issue 8 measured a PHP-FPM 8.2 master here at about 20 MiB in
//! 267 mappings; its `fork()` took 0.41/0.66/1.72 ms p10/p50/p90, ours 0.17-0.27 ms from a
//! 2.8 MB parent). The children inherit it copy-on-write and never touch it.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, mprotect, munmap};

/// One mebibyte.
const MIB: u64 = 1 << 20;

/// The PHP-FPM models' default `--parent-memory`: not the master's 20 MB, most of which is
/// file-backed (libraries) and costs `fork()` nothing, but the touched private memory that
/// makes our `fork()` cost what PHP-FPM's does here. Measured from the `wakeup` to the
/// `fork` line (release build, this 2-core machine, shared, few runs): 0 B 0.14-0.20 ms,
/// 4 MiB 0.63-0.83 ms, 8 MiB 0.85-1.45 ms, 20 MiB 1.29-2.36 ms; PHP-FPM 0.41/0.66/1.72 ms
/// (p10/p50/p90, issue 8). A rough calibration, for `bench/fork` to refine.
pub const PHP_FPM_PARENT_MEMORY: u64 = 4 * MIB;

/// How many mappings the memory is spread over (the PHP-FPM master's 267).
pub const MAPPINGS: u64 = 267;

/// The most `--parent-memory` takes: it is all touched, so it is all resident.
pub const MAX_PARENT_MEMORY: u64 = 1 << 30;

/// The granule the memory is touched in: one write per page (4 KiB pages or larger).
const PAGE: u64 = 4096;

/// A size that does not parse, or is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected a size up to 1GiB: bytes, or a number with K, M or G (KiB, MiB, GiB)")]
pub struct SizeError;

/// Parses `20MiB`, `20M`, `512K`, `1G` (binary units; `KiB` and `K` alike, any case) or
/// a bare number of bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits.parse().map_err(|_| SizeError)?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(SizeError),
    };
    number
        .checked_mul(1 << shift)
        .filter(|&n| n <= MAX_PARENT_MEMORY)
        .ok_or(SizeError)
}

/// The parent's ballast: unmapped when dropped.
#[derive(Debug)]
pub struct ParentMemory {
    maps: Vec<(NonNull<std::ffi::c_void>, NonZeroUsize)>,
}

impl ParentMemory {
    /// Maps `bytes` (rounded up to pages) in up to [`MAPPINGS`] private anonymous mappings
    /// and touches every page. Every other mapping is then made read-only, so the kernel
    /// cannot merge neighbours into one VMA.
    pub fn map(bytes: u64) -> nix::Result<Self> {
        let pages = bytes.div_ceil(PAGE);
        let count = MAPPINGS.min(pages);
        let mut maps = Vec::new();
        for i in 0..count {
            let mine = pages / count + u64::from(i < pages % count);
            let Some(len) = NonZeroUsize::new((mine * PAGE) as usize) else {
                continue;
            };
            // SAFETY: a fresh anonymous mapping aliases nothing.
            let ptr = unsafe {
                mmap_anonymous(
                    None,
                    len,
                    ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                    MapFlags::MAP_PRIVATE,
                )?
            };
            for offset in (0..len.get()).step_by(PAGE as usize) {
                // SAFETY: in bounds of the writable mapping just made, which only we use.
                unsafe { ptr.cast::<u8>().add(offset).write_volatile(1) };
            }
            maps.push((ptr, len));
            if i % 2 == 1 {
                // SAFETY: the whole mapping just made; nothing holds a reference into it.
                unsafe { mprotect(ptr, len.get(), ProtFlags::PROT_READ)? };
            }
        }
        Ok(Self { maps })
    }
}

impl Drop for ParentMemory {
    fn drop(&mut self) {
        for (ptr, len) in self.maps.drain(..) {
            // SAFETY: mapped in `map` with this length; no reference into it exists.
            let _ = unsafe { munmap(ptr, len.get()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("20MiB"), Ok(20 * MIB));
        assert_eq!(parse_size("20m"), Ok(20 * MIB));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "MiB", "-1", "1.5M", "2G", "20 apples", "1T"] {
            assert_eq!(parse_size(bad), Err(SizeError), "{bad}");
        }
    }

    #[test]
    fn the_memory_is_spread_over_separate_mappings() {
        let count = || {
            std::fs::read_to_string("/proc/self/maps")
                .unwrap()
                .lines()
                .count()
        };
        let before = count();
        let memory = ParentMemory::map(2 * MIB).unwrap();
        assert_eq!(memory.maps.len() as u64, MAPPINGS);
        // Other threads of the test binary may map too: at least most of them show.
        assert!(
            count() >= before + MAPPINGS as usize - 10,
            "{before} -> {}",
            count()
        );
        drop(memory);
        assert_eq!(ParentMemory::map(0).unwrap().maps.len(), 0);
    }
}
