//! Running kexts built with RustKext on xnu-sim, for their tests (each kext's glue crate compiles
//! its shim for the simulator; a test binary that links it can load it):
//!
//! ```ignore
//! let k = xnu_sim::Kernel::boot();
//! rustkext_sim::load(&k, &my_kext::IDENTITY).unwrap();
//! let client = MyClient::open(rustkext_sim::connect(&k, &my_kext::IDENTITY, rustkext_sim::ROOT)?)?;
//! let report = rustkext_sim::conformance::<dyn MyInterface>(&k, &my_kext::IDENTITY)?;
//! ```

use rustkext::Identity;
use rustkext_abi::client::{Output, Transport};
use rustkext_abi::conformance::{self, Examples, Harness, Report};
use rustkext_abi::IOReturn;
use xnu_sim::{Connection, KernReturn, Kernel, KextSpec, TaskId};

/// An administrator (effective uid 0).
pub const ROOT: u32 = 0;
/// A user who is not one (the first user account on macOS).
pub const USER: u32 = 501;

/// The kext as `kextload` sees it: its generated Info.plist, running its own code module.
pub fn spec(id: &Identity) -> KextSpec {
    KextSpec::from_info_plist(id.info_plist, id.bundle_id)
        .unwrap_or_else(|e| panic!("rustkext-sim: the Info.plist of {}: {e}", id.bundle_id))
}

/// Installs the kext (as the VM steps do: /Library/Extensions on 10.15, the auxiliary collection
/// on 11+) and loads it; the service is matched by the time this returns.
pub fn load(kernel: &Kernel, id: &Identity) -> Result<(), KernReturn> {
    let spec = spec(id);
    kernel.install_kext(&spec);
    kernel.load_bundle(&spec.bundle_id)
}

/// One connection to a kext's service, as a generated client's [`Transport`]; closed when
/// dropped (`IOServiceClose`).
pub struct SimConnection<'k> {
    kernel: &'k Kernel,
    connection: Connection,
}

impl SimConnection<'_> {
    /// The simulator's connection.
    pub fn connection(&self) -> Connection {
        self.connection
    }
}

/// `IOServiceOpen` on the kext's service (found by its class, as a client does), as a new task
/// with effective uid `euid`.
pub fn connect<'k>(kernel: &'k Kernel, id: &Identity, euid: u32) -> Result<SimConnection<'k>, IOReturn> {
    let task: TaskId = kernel.spawn_task(euid);
    let connection = kernel.open_service(task, id.service_class, 0)?;
    Ok(SimConnection { kernel, connection })
}

impl Transport for SimConnection<'_> {
    fn call(&self, selector: u32, scalars: &[u64], bytes: &[u8], sc: u32, bc: u32) -> Result<Output, IOReturn> {
        self.kernel
            .call(self.connection, selector, scalars, bytes, sc, bc)
            .map(|out| Output { scalars: out.scalars, bytes: out.bytes })
    }
}

impl Drop for SimConnection<'_> {
    fn drop(&mut self) {
        self.kernel.close(self.connection);
    }
}

/// The conformance suite's harness for a loaded kext: administrators and users are new tasks, the
/// simulator is quiet (nothing but the suite acts), and it sees the kernel's output buffers.
pub struct SimHarness<'k> {
    /// The kernel.
    pub kernel: &'k Kernel,
    /// The kext.
    pub identity: Identity,
    /// Whether its personality opens `Observer` methods to everyone.
    pub observers_for_everyone: bool,
}

impl<'k> Harness for SimHarness<'k> {
    type Connection = SimConnection<'k>;

    fn open(&self, admin: bool) -> Result<SimConnection<'k>, IOReturn> {
        connect(self.kernel, &self.identity, if admin { ROOT } else { USER })
    }

    fn observers_for_everyone(&self) -> bool {
        self.observers_for_everyone
    }

    fn refused_calls_that_wrote_outputs(&self) -> Option<u64> {
        Some(self.kernel.counter("externalMethod.refused_wrote_outputs"))
    }
}

/// Runs the generated conformance suite of interface `I` against the loaded kext `id` (default
/// personality: `Observer` methods are administrators').
pub fn conformance<I: Examples + ?Sized>(kernel: &Kernel, id: &Identity) -> Result<Report, String> {
    conformance::run::<I, _>(&SimHarness { kernel, identity: *id, observers_for_everyone: false })
}
