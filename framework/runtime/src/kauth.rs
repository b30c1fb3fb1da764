//! kauth listeners. Only the FILEOP scope exists today; a new scope is a shim trampoline, a
//! listener trait and an event type here, and its model in xnu-sim.
//!
//! A listener runs inside the framework's callback gate, on any thread, on every event of the
//! whole system: it must not block, allocate, or take a lock.

use core::ffi::CStr;
use core::marker::PhantomData;
use core::ptr::NonNull;

use macos_kext_sys as sys;

use crate::sharded::ShardIndex;

/// The kauth scopes a kext listens to (bits of `rk_kauth_scopes`).
pub mod scope {
    /// `KAUTH_SCOPE_FILEOP` (`com.apple.kauth.fileop`): notifications of file operations.
    pub const FILEOP: u32 = 1;
}

/// A FILEOP action (`KAUTH_FILEOP_*`, `sys/kauth.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    /// A file was opened: path.
    Open,
    /// A file was closed: path; whether it was written (`KAUTH_FILEOP_CLOSE_MODIFIED`).
    Close {
        /// The file was written.
        modified: bool,
    },
    /// A file was renamed: from, to.
    Rename,
    /// Two files were exchanged: both paths.
    Exchange,
    /// A hard link was made: target, new link.
    Link,
    /// A file was executed: path.
    Exec,
    /// A file was deleted: path.
    Delete,
    /// A file is about to be renamed: from, to.
    WillRename,
    /// An action this framework does not know (its number).
    Other(usize),
}

const OPEN: usize = sys::KAUTH_FILEOP_OPEN as usize;
const CLOSE: usize = sys::KAUTH_FILEOP_CLOSE as usize;
const RENAME: usize = sys::KAUTH_FILEOP_RENAME as usize;
const EXCHANGE: usize = sys::KAUTH_FILEOP_EXCHANGE as usize;
const LINK: usize = sys::KAUTH_FILEOP_LINK as usize;
const EXEC: usize = sys::KAUTH_FILEOP_EXEC as usize;
const DELETE: usize = sys::KAUTH_FILEOP_DELETE as usize;
const WILL_RENAME: usize = sys::KAUTH_FILEOP_WILL_RENAME as usize;

/// A path kauth passed: a NUL-terminated string valid for the callback (the lifetime), read byte
/// by byte up to its NUL, never copied.
#[derive(Clone, Copy)]
pub struct KPath<'a> {
    start: NonNull<u8>,
    _string: PhantomData<&'a [u8]>,
}

impl<'a> KPath<'a> {
    /// A path from a C string (tests, benchmarks).
    pub fn from_cstr(s: &'a CStr) -> KPath<'a> {
        KPath { start: NonNull::from(s).cast(), _string: PhantomData }
    }

    /// # Safety
    /// `ptr` is null or points to a NUL-terminated string readable and unchanged for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *const u8) -> Option<KPath<'a>> {
        NonNull::new(ptr.cast_mut()).map(|start| KPath { start, _string: PhantomData })
    }

    /// The bytes before the NUL.
    pub fn bytes(self) -> KPathBytes<'a> {
        KPathBytes { at: Some(self.start), _string: PhantomData }
    }

    /// Whether the path starts with `prefix` (read only up to the first mismatch).
    pub fn starts_with(self, prefix: &[u8]) -> bool {
        let mut bytes = self.bytes();
        prefix.iter().all(|&want| bytes.next() == Some(want))
    }
}

/// The bytes of a [`KPath`] before its NUL.
pub struct KPathBytes<'a> {
    /// The next byte to read; `None` once the NUL was read.
    at: Option<NonNull<u8>>,
    _string: PhantomData<&'a [u8]>,
}

impl Iterator for KPathBytes<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let at = self.at?;
        // SAFETY: `at` is inside the string: it starts at its first byte, and moves on only past
        // a byte that was not the NUL (below), so the terminator is never behind it; the string
        // is readable for 'a (KPath's contract).
        let byte = unsafe { at.as_ptr().read() };
        if byte == 0 {
            self.at = None;
            return None;
        }
        // SAFETY: `byte` was not the NUL, so the next byte is still part of the string.
        self.at = Some(unsafe { at.add(1) });
        Some(byte)
    }
}

/// One FILEOP notification, valid for the callback.
pub struct FileOpEvent<'a> {
    action: usize,
    paths: [Option<KPath<'a>>; 2],
    flags: usize,
    shard: ShardIndex,
}

impl<'a> FileOpEvent<'a> {
    /// An event from kauth's raw arguments.
    ///
    /// # Safety
    /// For the known actions, the arguments that are paths (`sys/kauth.h`: OPEN, CLOSE, EXEC,
    /// DELETE: arg1; WILL_RENAME: arg1, arg2; RENAME, EXCHANGE, LINK: arg0, arg1) are null or
    /// NUL-terminated strings readable and unchanged for `'a`.
    #[inline]
    pub unsafe fn from_kauth(action: usize, args: [usize; 4], shard: ShardIndex) -> FileOpEvent<'a> {
        let [arg0, arg1, arg2, _] = args;
        let (first, second) = match action {
            OPEN | CLOSE | EXEC | DELETE => (arg1, 0),
            WILL_RENAME => (arg1, arg2),
            RENAME | EXCHANGE | LINK => (arg0, arg1),
            _ => (0, 0),
        };
        // SAFETY: the caller's contract, for exactly these arguments.
        let paths = unsafe { [KPath::from_raw(first as *const u8), KPath::from_raw(second as *const u8)] };
        FileOpEvent { action, paths, flags: if action == CLOSE { arg2 } else { 0 }, shard }
    }

    /// An event with the given paths (tests, benchmarks).
    pub fn new(action: usize, paths: [Option<&'a CStr>; 2], flags: usize, shard: ShardIndex) -> FileOpEvent<'a> {
        FileOpEvent { action, paths: paths.map(|p| p.map(KPath::from_cstr)), flags, shard }
    }

    /// The action.
    pub fn action(&self) -> FileOp {
        match self.action {
            OPEN => FileOp::Open,
            CLOSE => FileOp::Close { modified: self.flags & sys::KAUTH_FILEOP_CLOSE_MODIFIED as usize != 0 },
            RENAME => FileOp::Rename,
            EXCHANGE => FileOp::Exchange,
            LINK => FileOp::Link,
            EXEC => FileOp::Exec,
            DELETE => FileOp::Delete,
            WILL_RENAME => FileOp::WillRename,
            other => FileOp::Other(other),
        }
    }

    /// The action's number (`KAUTH_FILEOP_*`).
    pub fn action_number(&self) -> usize {
        self.action
    }

    /// The paths the action carries (none, one or two; `None` where kauth passed NULL).
    pub fn paths(&self) -> [Option<KPath<'a>>; 2] {
        self.paths
    }

    /// The gate shard this callback runs in (for a [`Sharded`](crate::Sharded)).
    pub fn shard(&self) -> ShardIndex {
        self.shard
    }
}

/// A FILEOP listener: named in `export!` (`listens: [FileOp]`), registered by the shim at start,
/// unregistered and drained by the framework at shutdown.
pub trait FileOpListener {
    /// One event. Runs inside the callback gate, on any thread, concurrently: no blocking, no
    /// allocation, no lock; paths are valid only for the call.
    fn on_fileop(&self, event: &FileOpEvent<'_>);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::ffi::CString;

    #[test]
    fn paths_are_the_arguments_each_action_carries() {
        let a = CString::new("/a").unwrap();
        let b = CString::new("/b").unwrap();
        let (pa, pb) = (a.as_ptr() as usize, b.as_ptr() as usize);
        let read = |action, args| {
            // SAFETY: live CStrings or plain values where the action has no path.
            let e = unsafe { FileOpEvent::from_kauth(action, args, ShardIndex::new(0)) };
            e.paths().map(|p| p.map(|p| p.bytes().collect::<std::vec::Vec<u8>>()))
        };
        let some = |s: &[u8]| Some(s.to_vec());
        assert_eq!(read(OPEN, [0xdead, pa, 0, 0]), [some(b"/a"), None]);
        assert_eq!(read(WILL_RENAME, [0xdead, pa, pb, 0]), [some(b"/a"), some(b"/b")]);
        assert_eq!(read(RENAME, [pa, pb, 0xdead, 0]), [some(b"/a"), some(b"/b")]);
        assert_eq!(read(DELETE, [pa, 0, 0, 0]), [None, None], "NULL path");
        assert_eq!(read(42, [pa, pb, pa, pb]), [None, None], "unknown action: nothing read");
    }

    #[test]
    fn actions_and_the_close_flag() {
        let e = |action, flags| FileOpEvent::new(action, [None, None], flags, ShardIndex::new(0)).action();
        assert_eq!(e(CLOSE, sys::KAUTH_FILEOP_CLOSE_MODIFIED as usize), FileOp::Close { modified: true });
        assert_eq!(e(CLOSE, 0), FileOp::Close { modified: false });
        assert_eq!(e(EXEC, 0), FileOp::Exec);
        assert_eq!(e(9, 0), FileOp::Other(9));
    }

    #[test]
    fn starts_with_reads_up_to_the_first_mismatch_or_the_nul() {
        let p = CString::new("/Users/alice/x").unwrap();
        let k = KPath::from_cstr(&p);
        assert!(k.starts_with(b"/Users/alice/"));
        assert!(k.starts_with(b""));
        assert!(!k.starts_with(b"/Users/alicia"));
        assert!(!k.starts_with(b"/Users/alice/x/longer"), "shorter path");
        assert_eq!(k.bytes().count(), 14);
    }
}
