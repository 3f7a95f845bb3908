//! Segment files: finding and replaying them on open, appending records to
//! the tail one, and deleting the oldest once nothing in them is pending.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::record::{self, KIND_DELIVERY, parse_record};
use super::{Location, OpenReport, Segment, Spool, SpoolError, SpoolLimits};

const SEGMENT_SUFFIX: &str = "seg";

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, replaying what is
    /// there and cutting off torn tails.
    pub fn open(
        dir: impl Into<PathBuf>,
        limits: SpoolLimits,
    ) -> Result<(Spool, OpenReport), SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut names: Vec<u64> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_SUFFIX) {
                continue;
            }
            if let Some(first) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                names.push(first);
            }
        }
        names.sort_unstable();
        let mut spool = Spool {
            dir,
            limits,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            segments: BTreeMap::new(),
            tail: None,
            next_seq: 1,
        };
        let mut report = OpenReport::default();
        for first in names {
            spool.segments.insert(first, Segment::default());
            spool.next_seq = spool.next_seq.max(first);
            if let Some(cut) = spool.replay(first)? {
                report.truncated.push(cut);
            }
        }
        spool.collect_garbage()?;
        report.pending = spool.pending.len();
        Ok((spool, report))
    }

    pub(super) fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(format!("{first:020}.{SEGMENT_SUFFIX}"))
    }

    /// Reads one segment; returns the cut made when its tail was bad.
    fn replay(&mut self, first: u64) -> Result<Option<(PathBuf, u64)>, SpoolError> {
        let path = self.segment_path(first);
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err(&path))?;
        let mut offset = 0usize;
        while offset < data.len() {
            let Some((kind, seq, _, total)) = parse_record(&data[offset..]) else {
                break;
            };
            match kind {
                KIND_DELIVERY => {
                    let size = total as u64;
                    self.pending.insert(
                        seq,
                        Location {
                            segment: first,
                            offset: offset as u64,
                            size,
                        },
                    );
                    self.pending_bytes += size;
                    if let Some(s) = self.segments.get_mut(&first) {
                        s.live += 1;
                    }
                }
                _ => {
                    self.forget(seq);
                }
            }
            self.next_seq = self.next_seq.max(seq + 1);
            offset += total;
        }
        if offset == data.len() {
            return Ok(None);
        }
        let cut = (data.len() - offset) as u64;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.set_len(offset as u64).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(Some((path, cut)))
    }

    /// Appends one record to the tail segment (rolling over first when it
    /// is full) and syncs it; returns (segment, offset).
    pub(super) fn write_record(
        &mut self,
        kind: u8,
        seq: u64,
        body: &[u8],
    ) -> Result<(u64, u64), SpoolError> {
        let needs_new = match &self.tail {
            None => true,
            Some((_, _, size)) => *size >= self.limits.segment_bytes,
        };
        if needs_new {
            // Names only need to sort in creation order; a `done` record's
            // seq is old, so never name a segment after it.
            let last = self.segments.keys().next_back().map_or(0, |k| k + 1);
            self.start_segment(self.next_seq.max(last))?;
        }
        let path_first = self.tail.as_ref().map_or(seq, |t| t.0);
        let path = self.segment_path(path_first);
        let rec = record::frame(kind, seq, body);
        let Some((first, file, size)) = self.tail.as_mut() else {
            return Err(SpoolError::Io {
                path,
                source: std::io::Error::other("no tail segment"),
            });
        };
        let offset = *size;
        let written = file.write_all(&rec).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Leave no half record behind for the next append to follow.
            let _ = file.set_len(offset);
            return Err(SpoolError::Io { path, source: e });
        }
        *size += rec.len() as u64;
        Ok((*first, offset))
    }

    fn start_segment(&mut self, first: u64) -> Result<(), SpoolError> {
        let path = self.segment_path(first);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let size = file.metadata().map_err(io_err(&path))?.len();
        sync_dir(&self.dir)?;
        self.segments.entry(first).or_default();
        self.tail = Some((first, file, size));
        self.collect_garbage()
    }

    /// Deletes the oldest segments while they hold nothing pending and are
    /// not the one being written.
    pub(super) fn collect_garbage(&mut self) -> Result<(), SpoolError> {
        let tail = self.tail.as_ref().map(|t| t.0);
        let mut deleted = false;
        while let Some((&first, seg)) = self.segments.iter().next() {
            if seg.live > 0 || Some(first) == tail {
                break;
            }
            let path = self.segment_path(first);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::Io { path, source: e }),
            }
            self.segments.remove(&first);
            deleted = true;
        }
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Syncs a directory so that file creations and deletions in it persist.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}
