//! userclient-test: the RustKext user-client harness. The same scenarios run on the real kernel
//! through IOKit.framework (`iokit`, macOS) and on the simulator (`sim`, everywhere).

pub mod backend;
pub mod client;
pub mod codes;
pub mod fileops;
pub mod iokit;
pub mod json;
pub mod kextctl;
pub mod registry;
pub mod report;
pub mod scenarios;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stats;
pub mod wait;

use backend::Backend;

/// The backends, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// The kernel through IOKit.framework: the running one on macOS, elsewhere a simulated
    /// kernel in its own process behind the IOKitLib stand-in.
    Iokit,
    /// xnu-sim: the shim and the Rust core on the simulated kernel, in this process.
    Sim,
}

impl BackendKind {
    /// `iokit` on macOS, `sim` elsewhere.
    pub fn native() -> BackendKind {
        if cfg!(target_os = "macos") {
            BackendKind::Iokit
        } else {
            BackendKind::Sim
        }
    }
}

/// A kernel to talk to: the running one (`iokit`) or a freshly booted simulator with the kext
/// loaded (`sim`).
pub fn connect(kind: BackendKind, bundle_id: &str) -> Result<Box<dyn Backend>, String> {
    match kind {
        BackendKind::Iokit => {
            iokit::sys::attach_kernel()?;
            Ok(Box::new(iokit::IoKitBackend::new(bundle_id)))
        }
        #[cfg(feature = "sim")]
        BackendKind::Sim => Ok(Box::new(sim::SimBackend::boot()?)),
        #[cfg(not(feature = "sim"))]
        BackendKind::Sim => Err("built without the `sim` feature".into()),
    }
}
