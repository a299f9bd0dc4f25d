//! `followup dupes`: files with identical contents, found with follow-up tasks.
//!
//! 1. Walk the paths (on this thread) and keep only files that share their size with another.
//! 2. First round, `imap_unordered`: hash each candidate's first [`PREFIX`] bytes.
//! 3. As those results come in (the tutorial's manual pattern), a file whose size and prefix
//!    hash match another file's gets a follow-up task, `apply_async`, that hashes all of it;
//!    the first file of its kind gets one too, once a second one shows up. Files no longer
//!    than the prefix need none: their prefix hash is their content hash.
//! 4. Close, join, and print the files grouped by size and content hash.

use crate::args::DupesArgs;
use crate::output::say;
use crate::Result;
use followup::{AsyncResult, ImapOptions, ThreadPool};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How many leading bytes the first round hashes.
pub const PREFIX: u64 = 4096;

/// What the command found wrong, besides the duplicates: how many paths could not be read.
#[derive(Debug, Default)]
pub struct Report {
    /// Paths that could not be read (each was reported on stderr).
    pub unreadable: usize,
}

/// A file's hash task result: the file, its size, and the hash (or why it failed).
type Hashed = (PathBuf, u64, io::Result<u128>);

/// Runs `followup dupes`.
pub fn run(args: &DupesArgs) -> Result<Report> {
    let mut report = Report::default();
    let mut files = BTreeSet::new();
    for path in &args.paths {
        walk(path, &mut files, &mut report);
    }

    let mut by_size: HashMap<u64, Vec<PathBuf>> = HashMap::new();
    for (path, len) in files {
        by_size.entry(len).or_default().push(path);
    }
    let candidates: Vec<(PathBuf, u64)> = by_size
        .into_iter()
        .filter(|(_, paths)| paths.len() > 1)
        .flat_map(|(len, paths)| paths.into_iter().map(move |p| (p, len)))
        .collect();

    let pool = ThreadPool::with_workers(args.workers.get())?;
    // (size, content hash) -> files; BTreeMap for a stable output order.
    let mut groups: BTreeMap<(u64, u128), Vec<PathBuf>> = BTreeMap::new();
    // (size, prefix hash) -> files seen so far, for files longer than the prefix.
    let mut by_prefix: HashMap<(u64, u128), Vec<PathBuf>> = HashMap::new();
    let mut followups: Vec<AsyncResult<Hashed>> = Vec::new();

    let first_round = pool.imap_unordered_with(
        |(path, len): (PathBuf, u64)| {
            let hash = hash_file(&path, PREFIX);
            (path, len, hash)
        },
        candidates,
        ImapOptions::new().chunksize(1),
    )?;
    for result in first_round {
        let (path, len, hash) = result?;
        let Some(hash) = checked(&path, hash, &mut report) else {
            continue;
        };
        if len <= PREFIX {
            groups.entry((len, hash)).or_default().push(path);
            continue;
        }
        let seen = by_prefix.entry((len, hash)).or_default();
        seen.push(path);
        // The second file of a kind brings in the first; later ones only themselves.
        let start = if seen.len() == 2 { 0 } else { seen.len() - 1 };
        if seen.len() >= 2 {
            for path in seen[start..].iter().cloned() {
                followups.push(pool.apply_async(move || {
                    let hash = hash_file(&path, u64::MAX);
                    (path, len, hash)
                })?);
            }
        }
    }
    pool.close();
    pool.join()?;

    for handle in followups {
        let (path, len, hash) = handle.get()?;
        if let Some(hash) = checked(&path, hash, &mut report) {
            groups.entry((len, hash)).or_default().push(path);
        }
    }

    let mut duplicates: Vec<Vec<PathBuf>> = groups
        .into_values()
        .filter(|paths| paths.len() > 1)
        .map(|mut paths| {
            paths.sort();
            paths
        })
        .collect();
    duplicates.sort();
    for (i, group) in duplicates.iter().enumerate() {
        if i > 0 {
            say!("");
        }
        for path in group {
            say!("{}", path.display());
        }
    }
    Ok(report)
}

/// The hash, or `None` after reporting why there is none.
fn checked(path: &Path, hash: io::Result<u128>, report: &mut Report) -> Option<u128> {
    match hash {
        Ok(hash) => Some(hash),
        Err(e) => {
            warn(path, &e, report);
            None
        }
    }
}

fn warn(path: &Path, error: &io::Error, report: &mut Report) {
    eprintln!("followup: {}: {error}", path.display());
    report.unreadable += 1;
}

/// Adds the regular files under `path` to `files`, with their sizes.
fn walk(path: &Path, files: &mut BTreeSet<(PathBuf, u64)>, report: &mut Report) {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return warn(path, &e, report),
    };
    if meta.is_file() {
        files.insert((path.to_path_buf(), meta.len()));
    } else if meta.is_dir() {
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => return warn(path, &e, report),
        };
        for entry in entries {
            match entry {
                Ok(entry) => walk(&entry.path(), files, report),
                Err(e) => warn(path, &e, report),
            }
        }
    }
}

/// The 128-bit FNV-1a hash of the first `limit` bytes of the file at `path`.
fn hash_file(path: &Path, limit: u64) -> io::Result<u128> {
    let mut input = File::open(path)?.take(limit);
    let mut hash = Fnv1a128::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(hash.finish()),
            Ok(n) => hash.write(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// FNV-1a with 128-bit state: simple, dependency-free, and wide enough that accidental
/// collisions are not a concern.
#[derive(Debug, Clone, Copy)]
struct Fnv1a128(u128);

impl Fnv1a128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

    fn new() -> Self {
        Fnv1a128(Self::OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u128::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(self) -> u128 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Fnv1a128;

    #[test]
    fn fnv1a_128_matches_the_reference_values() {
        // Reference values from the FNV specification's test suite.
        let mut h = Fnv1a128::new();
        assert_eq!(h.finish(), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        h.write(b"a");
        assert_eq!(h.finish(), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }
}
