//! What the iokit backend needs besides IOKit.framework (whose calls resolve in the framework's
//! `rustkext_iokit::sys`: IOKit.framework on macOS, the IOKitLib stand-in elsewhere), the one
//! other place where macOS and the simulated kernel differ. Four items: [`attach_kernel`] (nothing to do on macOS; elsewhere the
//! simulated kernel is found or started before the first call, while the process still has one
//! thread); [`perform_file_ops`] (on macOS the kernel posts the FILEOP events of the file
//! operations itself; the simulated kernel cannot see Linux's file system, so after each
//! operation the stand-in posts, from this process, the events xnu posts for it:
//! [`FileOp::events`], the same table the simulator backend fires); [`sleep_kernel_time`] (a wait
//! for the kernel: the host's time on macOS, the simulated kernel's faster clock elsewhere); and
//! [`kernel_violations`] (kernel rules the driver broke, which only the simulated kernel sees).

#[allow(unused_imports)] // named by the documentation
use crate::fileops::FileOp;

#[cfg(target_os = "macos")]
mod imp {
    use crate::fileops::{self, FileOp};
    use std::time::Duration;

    pub fn attach_kernel() -> Result<(), String> {
        Ok(())
    }

    pub fn perform_file_ops(ops: &[FileOp]) -> Result<(), String> {
        fileops::perform_all(ops)
    }

    pub fn sleep_kernel_time(duration: Duration) {
        std::thread::sleep(duration);
    }

    pub fn kernel_violations() -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

#[cfg(not(target_os = "macos"))]
mod imp {
    use crate::fileops::{FileOp, KauthArg};
    pub use iokitlib_sim::sleep_kernel_time;
    use iokitlib_sim::wire::FileopArg;

    pub fn attach_kernel() -> Result<(), String> {
        iokitlib_sim::ensure_kernel().map(drop)
    }

    pub fn perform_file_ops(ops: &[FileOp]) -> Result<(), String> {
        for op in ops {
            op.perform().map_err(|e| format!("{op:?}: {e}"))?;
            for event in op.events() {
                let arg = |a: KauthArg| match a {
                    KauthArg::Path(p) => FileopArg::Path(p),
                    KauthArg::Value(v) => FileopArg::Value(v as u64),
                };
                let args = event.kauth_args()?.map(arg);
                if iokitlib_sim::bsd::kauth_fileop(event.action, args) == 0 {
                    return Err(format!("no kauth FILEOP listener was called for {event:?}"));
                }
            }
        }
        Ok(())
    }

    pub fn kernel_violations() -> Result<Vec<String>, String> {
        iokitlib_sim::simulator_status().map(|s| s.violations)
    }
}

pub use imp::*;
