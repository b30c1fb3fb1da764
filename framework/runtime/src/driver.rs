//! The [`Driver`] trait and [`Kext`], the state the framework keeps for one kext.

use core::ffi::CStr;
use core::marker::PhantomData;

use rustkext_abi::{validate, Call, CallerInfo, Refusal, Serve, Services, Shape, DESCRIBE, DESCRIBE_SHAPE};

use crate::gate::{Gate, Pause};
use crate::kauth::{FileOpEvent, FileOpListener};
use crate::lifecycle::{Phase, Registry};
use crate::published::{RegistryValues, FRAMEWORK_KEYS, FRAMEWORK_KINDS};
use crate::settings::{SettingKeys, Settings};

/// When the kext may unload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnloadPolicy {
    /// `kextunload` (and `kmutil unload`) is refused while a client is open, the request is
    /// remembered, opens are refused to non-administrators meanwhile, and the last close
    /// terminates the service (autounload follows); `CancelUnload` forgets the request. The
    /// only policy so far: it is the one the loom models and the simulator check.
    AfterLastClient,
}

/// Why a driver refused to start (logged as `start refused: <why>`; the service does not start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartError(pub &'static CStr);

/// A driver: its state is a `static` built by a `const fn` (`export!` places it), shared by every
/// thread, so everything it changes is atomic or behind [`Lock`](crate::sync::Lock).
pub trait Driver: Sync + Sized + 'static {
    /// When the kext may unload.
    const UNLOAD: UnloadPolicy = UnloadPolicy::AfterLastClient;

    /// Service start, after the settings were read and before the callback gate opens (so no
    /// listener runs yet): reset what a new start must not inherit. An error refuses the start.
    fn start(&self, settings: &Settings) -> Result<(), StartError> {
        let _ = settings;
        Ok(())
    }

    /// Service stop, after the gate closed and drained and every client was forgotten. Must not
    /// sleep (it runs inside the platform work loop's gate).
    fn stop(&self) {}

    /// The driver's values for the IORegistry (its `Driver` dictionary), computed when the
    /// registry is read (`ioreg -l`, `IORegistryEntryCreateCFProperties`): add `(static key,
    /// value)` pairs to `out`. Called on any thread, at any time while an instance of the
    /// service exists (also before start and after stop: publish the state as it is), never on
    /// the kauth path and never with the runtime's lock held. Must not block or allocate.
    /// Default: nothing.
    fn registry_values(&self, out: &mut RegistryValues<'_>) {
        let _ = out;
    }
}

/// What the framework needs of a kext's identity at run time (the rest is the shim's and the
/// plist's), generated from its `rustkext.toml` by `export!`.
#[derive(Debug)]
pub struct KextConfig {
    /// `<name>: `, the prefix of every log line.
    pub log_prefix: &'static CStr,
    /// The personality keys of the settings.
    pub keys: SettingKeys,
    /// The kauth scopes it listens to ([`scope`](crate::kauth::scope) bits).
    pub scopes: u32,
}

/// One kext's state: the callback gate, the client registry and the driver, in a `static` that
/// lives until the code is unmapped (a late kauth caller still meets a valid, closed gate).
/// `I` is the interface (`dyn Trait`) it serves.
pub struct Kext<D, I: ?Sized> {
    pub(crate) gate: Gate<()>,
    pub(crate) registry: Registry,
    pub(crate) driver: D,
    pub(crate) config: &'static KextConfig,
    _interface: PhantomData<fn(&I)>,
}

/// Why [`Kext::start`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartRefused {
    /// Already running.
    InUse,
    /// The driver refused.
    Driver(StartError),
}

impl<D: Driver, I: ?Sized> Kext<D, I> {
    /// A stopped kext (gate closed, no clients).
    #[cfg(not(loom))]
    pub const fn new(driver: D, config: &'static KextConfig) -> Self {
        Kext { gate: Gate::new(), registry: Registry::new(), driver, config, _interface: PhantomData }
    }

    /// The driver.
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// The client registry (admission, close, terminate policy).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The kext's run-time configuration.
    pub fn config(&self) -> &'static KextConfig {
        self.config
    }

    /// Service start: Stopped → Running with `settings`; zeroes the gate's statistics, starts
    /// the driver, opens the gate. Nothing changed on a refusal.
    pub fn start(&self, settings: Settings) -> Result<(), StartRefused> {
        match D::UNLOAD {
            UnloadPolicy::AfterLastClient => {}
        }
        if !self.registry.start(settings) {
            return Err(StartRefused::InUse);
        }
        // The one copy of the gate's reset (`ResetStats` calls it through the vtable).
        <Self as Services>::reset_gate_stats(self);
        if let Err(e) = self.driver.start(&settings) {
            self.registry.stop();
            return Err(StartRefused::Driver(e));
        }
        self.gate.open();
        Ok(())
    }

    /// Shutdown, step 1: closes the callback gate.
    pub fn close_gate(&self) {
        self.gate.close();
    }

    /// Waits for callbacks in flight (see [`Gate::drain`]).
    pub fn drain(&self, pause: &mut impl Pause) -> u32 {
        self.gate.drain(pause)
    }

    /// Service release: back to Stopped, the gate stays closed; then the driver's `stop`.
    pub fn release(&self) {
        self.gate.close();
        self.registry.stop();
        self.driver.stop();
    }

    /// kauth callbacks that met the closed gate since start.
    pub fn refused_after_close(&self) -> u64 {
        self.gate.refused()
    }

    /// Callbacks in flight now.
    pub fn in_flight(&self) -> u32 {
        self.gate.in_flight()
    }

    /// What the IORegistry shows, computed now: the runtime's values (the `Framework` group:
    /// [`published::key`](crate::published::key)), then the driver's (`Driver`). The registry's
    /// part is read under its lock, released before the gate's counters and the driver are read.
    pub fn registry_values(&self, out: &mut RegistryValues<'_>) {
        let status = self.registry.status();
        // In the order of `published::FRAMEWORK_KEYS`: the groups' values are 0.
        let values = [
            0,
            u64::from(status.phase == Phase::Running),
            u64::from(status.open_clients),
            u64::from(status.max_clients),
            u64::from(status.unload_pending),
            u64::from(self.gate.in_flight()),
            <Self as Services>::peak_in_flight(self),
            self.gate.refused(),
            0,
        ];
        out.put_each(&FRAMEWORK_KEYS, &FRAMEWORK_KINDS, &values);
        self.driver.registry_values(out);
    }

    /// An external method from a safe caller (slices; the C ABI forms them from the pointers it
    /// checked): the client is open (`kIOReturnNotOpen`), then `DESCRIBE`, or
    /// [`validate`] and the interface's method. The shape the outputs were written to on
    /// success; nothing written on a refusal.
    pub fn call(&self, client_id: u32, selector: u32, call: &mut Call<'_>) -> Result<Shape, Refusal>
    where
        I: Serve<D>,
    {
        let client = self.registry.client(client_id).ok_or(Refusal::NOT_OPEN)?;
        let given = call.shape();
        if selector == DESCRIBE {
            if given != DESCRIBE_SHAPE {
                return Err(Refusal::BAD_ARGUMENT);
            }
            for (dst, src) in call.scalar_output.iter_mut().zip([I::FINGERPRINT, I::TABLE.len() as u64]) {
                *dst = src;
            }
            return Ok(DESCRIBE_SHAPE);
        }
        let shape = validate(I::TABLE, selector, given, &client)?;
        I::serve(&self.driver, selector, &CallerInfo { client, services: self }, call)?;
        Ok(shape)
    }

    /// A FILEOP event, as the kauth callback delivers it: through the gate (false, nothing run,
    /// once it is closed) to the listener. For tests and benchmarks, with paths as C strings.
    pub fn fileop(&self, thread_key: usize, action: usize, paths: [Option<&CStr>; 2], flags: usize) -> bool
    where
        D: FileOpListener,
    {
        let Some(guard) = self.gate.enter(thread_key) else {
            return false;
        };
        self.driver.on_fileop(&FileOpEvent::new(action, paths, flags, guard.index()));
        true
    }
}

impl<D: Driver, I: ?Sized> Services for Kext<D, I> {
    /// The one copy of the gate's peak (`GetStats` through the vtable, the IORegistry directly).
    #[inline(never)]
    #[cfg_attr(feature = "kernel", optimize(size))]
    fn peak_in_flight(&self) -> u64 {
        self.gate.peak_in_flight()
    }

    /// Zeroes the gate's statistics: the one copy, for start and `ResetStats`.
    #[inline(never)]
    fn reset_gate_stats(&self) {
        self.gate.reset_stats(|_| {});
    }

    fn cancel_unload(&self) -> bool {
        self.registry.cancel_unload()
    }
}
