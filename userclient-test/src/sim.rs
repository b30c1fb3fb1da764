//! The simulator backend: the unmodified shim and core running on xnu-sim, in this process.
//! The current user is a task with euid 0, the non-administrator a task with euid 501; a holder
//! is its own task, killed with `kill_task`; time passes only through `advance_clock`.

use crate::backend::{Backend, Call, CallOutput, Connection, Holder, UnloadAnswer, User};
use crate::client::CONNECT_TYPE_DEFAULT;
use crate::codes::IOReturn;
use crate::fileops::{FileEvent, FileOp, KauthArg};
use crate::registry::{Properties, Value};
use crate::wait::Progress;
use rustkext_monitor_kext::IDENTITY;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use xnu_sim::{FileopArg, Kernel, Property, RegistryValue, TaskId};

/// The monitor's classes, as its rustkext.toml names them.
const SERVICE_CLASS: &str = IDENTITY.service_class;
const USER_CLIENT_CLASS: &str = IDENTITY.user_client_class;

/// The uid of the simulated non-administrator (the first user account on macOS).
pub const NON_ADMIN_UID: u32 = 501;

/// The resource the harness publishes to make the kernel rematch IOResources.
pub const REMATCH_RESOURCE: &str = "org.rustkext.harness.rematch";

/// How long the model may take to finish what a call started (matching, terminations).
const QUIET: Duration = Duration::from_secs(30);

/// How far the simulated clock moves per check while waiting for the autounload.
const CLOCK_STEP: Duration = Duration::from_secs(1);

pub struct SimBackend {
    kernel: Kernel,
    root: TaskId,
    user: TaskId,
    conns: Mutex<HashMap<u64, xnu_sim::Connection>>,
    holders: Mutex<HashMap<u64, TaskId>>,
    next: AtomicU64,
    /// Whether the current user is the administrator task (else the euid-501 one).
    current_admin: bool,
}

impl SimBackend {
    /// Boots a simulated kernel and loads the kext with the repository's Info.plist.
    pub fn boot() -> Result<SimBackend, String> {
        Self::boot_with(&[])
    }

    /// The same with personality properties overridden (`RustKextMaxClients`, `RustKextAdminOnly`).
    pub fn boot_with(overrides: &[(&str, Property)]) -> Result<SimBackend, String> {
        let kernel = Kernel::boot();
        // Installed first, as the README's VM steps do, so that a load request for it could be
        // answered: the kext must stay unloaded after autounload all the same.
        let spec = rustkext_sim::spec(&IDENTITY).with_overrides(overrides);
        kernel.install_kext(&spec);
        kernel.load_bundle(&spec.bundle_id).map_err(|code| {
            format!(
                "the simulated kernel refused to load the kext: {}",
                crate::codes::Code(code)
            )
        })?;
        let root = kernel.spawn_task(0);
        let user = kernel.spawn_task(NON_ADMIN_UID);
        Ok(SimBackend {
            kernel,
            root,
            user,
            conns: Mutex::default(),
            holders: Mutex::default(),
            next: AtomicU64::new(1),
            current_admin: true,
        })
    }

    /// `boot_with`, the harness running as an administrator (root, as with sudo) or not.
    pub fn boot_as(overrides: &[(&str, Property)], admin: bool) -> Result<SimBackend, String> {
        let backend = Self::boot_with(overrides)?;
        Ok(if admin {
            backend
        } else {
            backend.current_user_non_admin()
        })
    }

    /// The same kernel with the current user a non-administrator (euid 501): what a user without
    /// sudo meets (scenarios that need an administrator are skipped).
    pub fn current_user_non_admin(mut self) -> SimBackend {
        self.current_admin = false;
        self
    }

    /// The kernel's log lines so far (IOLog and the simulator's own notes).
    pub fn log_lines(&self) -> Vec<String> {
        self.kernel.log_lines()
    }

    fn remember(&self, conn: xnu_sim::Connection) -> Connection {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.conns).insert(id, conn);
        Connection(id)
    }

    fn lookup(&self, conn: Connection) -> Option<xnu_sim::Connection> {
        lock(&self.conns).get(&conn.0).copied()
    }

    fn gone(&self) -> bool {
        !self.kernel.bundle_loaded(IDENTITY.bundle_id)
            && self.kernel.instance_count(SERVICE_CLASS) == 0
            && self.kernel.instance_count(USER_CLIENT_CLASS) == 0
    }
}

impl SimBackend {
    /// Fires FILEOP events, in order, as the kernel posts them for file operations; an event no
    /// kauth listener saw is an error.
    pub fn fire_events(&self, events: &[FileEvent]) -> Result<(), String> {
        for event in events {
            if self.fire(event)? == 0 {
                return Err(format!("no kauth FILEOP listener was called for {event:?}"));
            }
        }
        Ok(())
    }

    /// Lets `d` of simulated time pass (every timer and desktop event on the way fires).
    pub fn advance_clock(&self, d: Duration) {
        self.kernel.advance_clock(d);
    }

    /// Simulated time since boot.
    pub fn now(&self) -> Duration {
        self.kernel.now()
    }

    /// Fires one FILEOP event with the arguments xnu passes for it ([`FileEvent::kauth_args`]).
    fn fire(&self, event: &FileEvent) -> Result<u32, String> {
        let action = u32::try_from(event.action).map_err(|_| format!("action {}", event.action))?;
        let args = event.kauth_args()?;
        fn arg(a: &KauthArg) -> FileopArg<'_> {
            match a {
                KauthArg::Path(p) => FileopArg::Path(p.as_str()),
                KauthArg::Value(v) => FileopArg::Value(*v),
            }
        }
        Ok(self.kernel.fileop_args(
            action,
            [arg(&args[0]), arg(&args[1]), arg(&args[2]), arg(&args[3])],
        ))
    }
}

/// The simulator's rebuilt dictionary as the harness's.
fn convert(value: RegistryValue) -> Value {
    match value {
        RegistryValue::String(s) => Value::String(s),
        RegistryValue::Number(n) => Value::Number(n),
        RegistryValue::Bool(b) => Value::Bool(b),
        RegistryValue::Dictionary(entries) => Value::Dictionary(Properties(
            entries.into_iter().map(|(k, v)| (k, convert(v))).collect(),
        )),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Backend for SimBackend {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn is_admin(&self) -> bool {
        self.current_admin
    }

    fn is_quiet(&self) -> bool {
        true
    }

    fn open(&self, user: User, connect_type: u32) -> Result<Connection, IOReturn> {
        let task = match user {
            User::Current if self.current_admin => self.root,
            User::Current => self.user,
            User::NonAdmin => self.user,
        };
        let conn = self
            .kernel
            .open_service(task, SERVICE_CLASS, connect_type)?;
        Ok(self.remember(conn))
    }

    fn call(&self, conn: Connection, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        let Some(sim) = self.lookup(conn) else {
            return Err(crate::codes::MACH_SEND_INVALID_DEST);
        };
        let out = self.kernel.call(
            sim,
            call.selector,
            call.scalars_in,
            call.struct_in,
            call.scalar_out_capacity,
            call.struct_out_capacity,
        )?;
        Ok(CallOutput {
            scalars: out.scalars,
            bytes: out.bytes,
        })
    }

    fn close(&self, conn: Connection) -> IOReturn {
        match lock(&self.conns).remove(&conn.0) {
            Some(sim) => self.kernel.close(sim),
            None => crate::codes::MACH_SEND_INVALID_DEST,
        }
    }

    fn request_unload(&self) -> Result<UnloadAnswer, String> {
        let code = self.kernel.unload_bundle(IDENTITY.bundle_id);
        Ok(UnloadAnswer {
            unloaded: code == crate::codes::kIOReturnSuccess,
            code: Some(code),
            text: String::new(),
        })
    }

    fn is_loaded(&self) -> Result<bool, String> {
        Ok(self.kernel.bundle_loaded(IDENTITY.bundle_id))
    }

    fn wait_unloaded(&self, bound: Duration, progress: Progress<'_>) -> Result<Duration, String> {
        let mut waited = Duration::ZERO;
        while !self.gone() {
            if waited > Duration::ZERO {
                progress(waited);
            }
            if waited >= bound {
                return Err(format!(
                    "after {waited:?} (simulated): loaded {}, {} {SERVICE_CLASS}, {} {USER_CLIENT_CLASS}",
                    self.kernel.bundle_loaded(IDENTITY.bundle_id),
                    self.kernel.instance_count(SERVICE_CLASS),
                    self.kernel.instance_count(USER_CLIENT_CLASS)
                ));
            }
            self.kernel.advance_clock(CLOCK_STEP);
            waited += CLOCK_STEP;
        }
        Ok(waited)
    }

    fn rematch_resources(&self, settle: Duration) -> Result<(), String> {
        self.kernel.publish_resource(REMATCH_RESOURCE);
        self.kernel.wait_quiet(QUIET);
        self.kernel.advance_clock(settle);
        Ok(())
    }

    fn service_present(&self) -> Result<bool, String> {
        Ok(self.kernel.bundle_service_count(IDENTITY.bundle_id) > 0)
    }

    fn service_properties(&self) -> Result<Properties, String> {
        let props = self
            .kernel
            .registry_properties(SERVICE_CLASS)
            .map_err(|code| {
                format!(
                    "IORegistryEntryCreateCFProperties: {}",
                    crate::codes::Code(code)
                )
            })?;
        match convert(props) {
            Value::Dictionary(d) => Ok(d),
            other => Err(format!(
                "the service's properties are not a dictionary: {other:?}"
            )),
        }
    }

    fn spawn_holder(&self) -> Result<Holder, String> {
        // A child process of the harness: the harness's user.
        let task = self
            .kernel
            .spawn_task(if self.current_admin { 0 } else { NON_ADMIN_UID });
        // The connection belongs to the task from now on and dies with it.
        self.kernel
            .open_service(task, SERVICE_CLASS, CONNECT_TYPE_DEFAULT)
            .map_err(|code| format!("holder's open refused with {}", crate::codes::Code(code)))?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.holders).insert(id, task);
        Ok(Holder(id))
    }

    fn kill_holder(&self, holder: Holder) -> Result<(), String> {
        let task = lock(&self.holders)
            .remove(&holder.0)
            .ok_or("no such holder")?;
        self.kernel.kill_task(task);
        Ok(())
    }

    fn file_root(&self) -> Result<PathBuf, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(PathBuf::from(format!(
            "/private/tmp/userclient-test.{}.{n}",
            std::process::id()
        )))
    }

    fn file_ops(&self, ops: &[FileOp]) -> Result<(), String> {
        let events: Vec<FileEvent> = ops.iter().flat_map(FileOp::events).collect();
        self.fire_events(&events)
    }
}
