//! The perf group's ring buffer, read without a system call: a gap with no switch and no
//! interrupt in it (a host pause, most gaps on a VM) costs one memory load instead of a
//! `read` (1.0–1.3 µs on the development VM).

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Data pages in the buffer (plus one for the header): 32 KiB, 2,048 records of 16 bytes,
/// far more than the interrupts and switches between two readings (a tick at most 1,000 times
/// a second, and every switch ends a gap that is read).
const DATA_PAGES: usize = 8;

/// `perf_event_header.type` of a sample.
const PERF_RECORD_SAMPLE: u32 = 9;
/// Bytes of a sample record with `PERF_SAMPLE_IDENTIFIER` alone: the 8-byte header, the id.
const SAMPLE_BYTES: u64 = 16;
/// Where `data_head`, `data_tail`, `data_offset` and `data_size` sit in
/// `struct perf_event_mmap_page` (include/uapi/linux/perf_event.h).
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

/// What the records since the last reading count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Samples of the group leader (`context-switches`).
    pub switches: u64,
    /// Samples of any other event of the group (the interrupt tracepoints).
    pub interrupts: u64,
    /// A record other than a sample was seen (the kernel writes `PERF_RECORD_LOST` when the
    /// buffer was full): the counts are incomplete, and the caller reads the group's counts
    /// instead.
    pub incomplete: bool,
}

/// Counts the records in `data`, a ring of `data.len()` bytes (a power of two) into which every
/// event of the group writes one sample (its id only) each time it fires, from byte
/// `tail` up to `head` (both running offsets, as the kernel keeps them): samples whose id is
/// `leader` are switches, other samples interrupts. Pure, so it is tested on made-up rings.
pub fn tally(data: &[u8], tail: u64, head: u64, leader: u64) -> Tally {
    let size = data.len() as u64;
    let word = |at: u64| {
        let mut bytes = [0u8; 8];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = data[((at + i as u64) % size) as usize];
        }
        u64::from_ne_bytes(bytes)
    };
    let mut tally = Tally::default();
    let mut at = tail;
    while at < head {
        let header = word(at);
        let (kind, len) = (header as u32, (header >> 48) as u16 as u64);
        if len == 0 || at + len > head {
            tally.incomplete = true;
            break;
        }
        match (kind, len) {
            (PERF_RECORD_SAMPLE, SAMPLE_BYTES) if word(at + 8) == leader => tally.switches += 1,
            (PERF_RECORD_SAMPLE, SAMPLE_BYTES) => tally.interrupts += 1,
            _ => tally.incomplete = true,
        }
        at += len;
    }
    tally
}

/// The mapped buffer of a group leader opened with `sample_period` 1 and
/// `PERF_SAMPLE_IDENTIFIER`, its members' output sent to it.
pub struct Ring {
    base: *mut u8,
    len: usize,
    data: (usize, usize),
    leader_id: u64,
}

// SAFETY: the mapping is this process's and lives as long as the Ring; the kernel writes it
// concurrently whichever thread reads it, and every access goes through atomics or plain
// reads of bytes the kernel has published (after the acquire load of `data_head`).
unsafe impl Send for Ring {}

impl Ring {
    /// Maps `leader`'s buffer and sends every member's records to it.
    pub fn map(leader: BorrowedFd, members: &[BorrowedFd]) -> std::io::Result<Ring> {
        let page = page_size();
        let len = page * (1 + DATA_PAGES);
        // SAFETY: a shared mapping of a perf event fd, of 1 + 2^n pages as perf requires;
        // the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                leader.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut ring = Ring {
            base: base.cast(),
            len,
            data: (page, page * DATA_PAGES),
            leader_id: 0,
        };
        let (offset, size) = (ring.header(DATA_OFFSET), ring.header(DATA_SIZE));
        if size > 0 {
            ring.data = (offset as usize, size as usize);
        }
        ring.leader_id = event_id(leader)?;
        for member in members {
            // SAFETY: both fds are open perf events of this thread; the ioctl takes the
            // leader's fd as its argument.
            let r = unsafe {
                libc::ioctl(
                    member.as_raw_fd(),
                    PERF_EVENT_IOC_SET_OUTPUT,
                    leader.as_raw_fd(),
                )
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(ring)
    }

    /// The records written since the last call, counted; the buffer is then free again.
    /// Allocates nothing; where nothing was written, one atomic load.
    pub fn drain(&mut self) -> Tally {
        let head = self.at(DATA_HEAD).load(Ordering::Acquire);
        let tail = self.at(DATA_TAIL).load(Ordering::Relaxed);
        if head == tail {
            return Tally::default();
        }
        // SAFETY: the data area lies within the mapping, and the kernel has written the
        // records before `head` (published by the acquire load above).
        let data = unsafe { std::slice::from_raw_parts(self.base.add(self.data.0), self.data.1) };
        let tally = tally(data, tail, head, self.leader_id);
        self.at(DATA_TAIL).store(head, Ordering::Release);
        tally
    }

    fn header(&self, offset: usize) -> u64 {
        self.at(offset).load(Ordering::Relaxed)
    }

    fn at(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: the field lies in the mapped header page, 8-byte aligned, and the kernel
        // reads and writes it atomically.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// `_IO('$', 5)` and `_IOR('$', 7, u64)`.
const PERF_EVENT_IOC_SET_OUTPUT: libc::c_ulong = 0x2405;
const PERF_EVENT_IOC_ID: libc::c_ulong = 0x8008_2407;

/// The id the kernel writes in `fd`'s samples.
fn event_id(fd: BorrowedFd) -> std::io::Result<u64> {
    let mut id = 0u64;
    // SAFETY: the fd is an open perf event, and the ioctl writes one u64 to the pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ID, &mut id as *mut u64) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(id)
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of `size` bytes holding `records` (type, size, id) from byte `start`.
    fn ring(size: usize, start: u64, records: &[(u32, u16, u64)]) -> (Vec<u8>, u64) {
        let mut data = vec![0u8; size];
        let mut at = start;
        for &(kind, len, id) in records {
            let header = kind as u64 | (len as u64) << 48;
            for (i, b) in header
                .to_ne_bytes()
                .into_iter()
                .chain(id.to_ne_bytes())
                .enumerate()
            {
                data[((at + i as u64) % size as u64) as usize] = b;
            }
            at += len as u64;
        }
        (data, at)
    }

    #[test]
    fn samples_are_counted_by_event_across_the_rings_end() {
        let records = [(9, 16, 7), (9, 16, 8), (9, 16, 9), (9, 16, 7)];
        // From byte 56 of a 64-byte ring: the first record's id and the rest wrap.
        let (data, head) = ring(64, 56 + 640, &records);
        let tally = tally(&data, 56 + 640, head, 7);
        assert_eq!(
            tally,
            Tally {
                switches: 2,
                interrupts: 2,
                incomplete: false
            }
        );
        assert_eq!(tally_of_nothing(&data, head), Tally::default());
    }

    fn tally_of_nothing(data: &[u8], head: u64) -> Tally {
        tally(data, head, head, 7)
    }

    #[test]
    fn a_lost_record_or_a_torn_one_makes_the_tally_incomplete() {
        // PERF_RECORD_LOST (2) is 24 bytes: header, id, lost count.
        let (data, head) = ring(128, 0, &[(9, 16, 7), (2, 24, 0), (9, 16, 8)]);
        let lost = tally(&data, 0, head, 7);
        assert!(lost.incomplete);
        assert_eq!((lost.switches, lost.interrupts), (1, 1));
        // A record that claims to run past the head, or a zero size, stops the walk.
        let (data, _) = ring(128, 0, &[(9, 16, 7), (9, 0, 8)]);
        assert!(tally(&data, 0, 32, 7).incomplete);
        assert!(tally(&data, 0, 8, 7).incomplete);
    }
}
