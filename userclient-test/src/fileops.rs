//! File operations and the FILEOP events the kernel posts for them (read from xnu: `vn_open_auth`
//! posts OPEN, the last `close` posts CLOSE, `rename` posts WILL_RENAME then RENAME, `unlink` and
//! `rmdir` post DELETE, `mkdir` posts nothing). The iokit backend performs the operations for real;
//! the simulator fires exactly these events; the file-activity scenario expects them.

use crate::codes::{
    KAUTH_FILEOP_CLOSE, KAUTH_FILEOP_DELETE, KAUTH_FILEOP_OPEN, KAUTH_FILEOP_RENAME,
    KAUTH_FILEOP_WILL_RENAME,
};
use std::fs;
use std::path::{Path, PathBuf};

/// `arg2` flag of CLOSE: the file was written (`sys/kauth.h`).
pub const KAUTH_FILEOP_CLOSE_MODIFIED: usize = macos_kext_sys::KAUTH_FILEOP_CLOSE_MODIFIED as usize;

/// One file-system operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileOp {
    MakeDir(PathBuf),
    /// Creates (or truncates) and writes a file.
    Write(PathBuf),
    /// Opens and reads a file.
    Read(PathBuf),
    /// Renames within one directory.
    Rename(PathBuf, PathBuf),
    Delete(PathBuf),
    RemoveDir(PathBuf),
}

/// One FILEOP callback: the action and its paths (`arg1` for OPEN/CLOSE/WILL_RENAME/DELETE,
/// `arg0` and `arg1` for RENAME). `second` is the other path where the kernel passes two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEvent {
    pub action: i32,
    pub path: PathBuf,
    pub second: Option<PathBuf>,
    /// `KAUTH_FILEOP_CLOSE_MODIFIED` in `arg2` (the file was written).
    pub modified: bool,
}

/// One argument of a kauth FILEOP callback: a path (a C string valid during the call) or a
/// plain value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KauthArg {
    Path(String),
    Value(usize),
}

impl FileEvent {
    /// The four callback arguments xnu passes for this event (`kauth_authorize_fileop`): OPEN,
    /// CLOSE, DELETE: arg0 vnode, arg1 path (CLOSE: arg2 flags); WILL_RENAME: arg0 vnode, arg1
    /// from, arg2 to; RENAME: arg0 from, arg1 to. Vnodes are 0: the listener must never read
    /// them. Paths must be UTF-8 (the simulated kernel takes them as text).
    pub fn kauth_args(&self) -> Result<[KauthArg; 4], String> {
        let utf8 = |p: &Path| {
            p.to_str()
                .map(|s| KauthArg::Path(s.to_string()))
                .ok_or_else(|| format!("{} is not UTF-8", p.display()))
        };
        let path = utf8(&self.path)?;
        let second = || {
            self.second
                .as_deref()
                .ok_or_else(|| format!("{self:?} has no second path"))
                .and_then(utf8)
        };
        let zero = KauthArg::Value(0);
        Ok(if self.action == KAUTH_FILEOP_RENAME {
            [path, second()?, zero.clone(), zero]
        } else if self.action == KAUTH_FILEOP_WILL_RENAME {
            [zero.clone(), path, second()?, zero]
        } else {
            let flags = if self.modified {
                KAUTH_FILEOP_CLOSE_MODIFIED
            } else {
                0
            };
            [zero.clone(), path, KauthArg::Value(flags), zero]
        })
    }
}

impl FileOp {
    /// The FILEOP events the kernel posts for this operation, in order.
    pub fn events(&self) -> Vec<FileEvent> {
        let one = |action, path: &Path, modified| FileEvent {
            action,
            path: path.to_path_buf(),
            second: None,
            modified,
        };
        match self {
            FileOp::MakeDir(_) => vec![],
            FileOp::Write(p) => vec![
                one(KAUTH_FILEOP_OPEN, p, false),
                one(KAUTH_FILEOP_CLOSE, p, true),
            ],
            FileOp::Read(p) => vec![
                one(KAUTH_FILEOP_OPEN, p, false),
                one(KAUTH_FILEOP_CLOSE, p, false),
            ],
            FileOp::Rename(from, to) => vec![
                FileEvent {
                    action: KAUTH_FILEOP_WILL_RENAME,
                    path: from.clone(),
                    second: Some(to.clone()),
                    modified: false,
                },
                FileEvent {
                    action: KAUTH_FILEOP_RENAME,
                    path: from.clone(),
                    second: Some(to.clone()),
                    modified: false,
                },
            ],
            FileOp::Delete(p) | FileOp::RemoveDir(p) => vec![one(KAUTH_FILEOP_DELETE, p, false)],
        }
    }

    /// Performs the operation on the real file system.
    pub fn perform(&self) -> std::io::Result<()> {
        match self {
            FileOp::MakeDir(p) => fs::create_dir(p),
            FileOp::Write(p) => fs::write(p, b"userclient-test\n"),
            FileOp::Read(p) => fs::read(p).map(drop),
            FileOp::Rename(from, to) => fs::rename(from, to),
            FileOp::Delete(p) => fs::remove_file(p),
            FileOp::RemoveDir(p) => fs::remove_dir(p),
        }
    }
}

/// Performs every operation for real; stops at the first error and says which.
pub fn perform_all(ops: &[FileOp]) -> Result<(), String> {
    ops.iter()
        .try_for_each(|op| op.perform().map_err(|e| format!("{op:?}: {e}")))
}

/// The plan of the file-activity scenario: activity inside `root/watched` (the filter prefix)
/// and outside it (`root/other`), every file and directory removed at the end.
pub fn plan(root: &Path) -> Vec<FileOp> {
    let watched = root.join("watched");
    let other = root.join("other");
    vec![
        FileOp::MakeDir(root.to_path_buf()),
        FileOp::MakeDir(watched.clone()),
        FileOp::MakeDir(other.clone()),
        FileOp::Write(watched.join("a")),
        FileOp::Read(watched.join("a")),
        FileOp::Rename(watched.join("a"), watched.join("b")),
        FileOp::Delete(watched.join("b")),
        FileOp::Write(other.join("c")),
        FileOp::Read(other.join("c")),
        FileOp::Delete(other.join("c")),
        FileOp::RemoveDir(watched),
        FileOp::RemoveDir(other),
        FileOp::RemoveDir(root.to_path_buf()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_operations_run_and_clean_up() {
        let root = std::env::temp_dir().join(format!("uct-fileops-{}", std::process::id()));
        let ops = plan(&root);
        perform_all(&ops).unwrap();
        assert!(!root.exists());
        let events: usize = ops.iter().map(|o| o.events().len()).sum();
        assert_eq!(events, 2 + 2 + 2 + 1 + 2 + 2 + 1 + 3);
    }
}
