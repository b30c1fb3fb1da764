//! Client registry and unload policy: who may open, what `terminate()` is told, and when the
//! service must terminate itself.
//!
//! All decisions happen under one short lock (never taken on the kauth path), so a terminate
//! request and the opens and closes racing with it are ordered: terminate is never allowed while
//! a client is open, and after a refused request exactly one close (the one that leaves zero
//! clients) orders the self-termination.
//!
//! Admission checks, in this order (the first failing one answers):
//! 1. connection type other than [`CONNECT_TYPE_DEFAULT`] → `kIOReturnBadArgument`;
//! 2. admin-only open (`RustKextAdminOnly`) by a non-administrator → `kIOReturnNotPrivileged`;
//! 3. unload pending, service terminating or not running → `kIOReturnNotPermitted`;
//! 4. client table full → `kIOReturnNoResources`.
//!
//! Client ids are nonzero: `generation << 8 | (slot + 1)`, with a per-slot generation that
//! advances on every open, so an id is unique among open clients and not reused by the next
//! client in the same slot (only after 2^24 opens of that slot).

use crate::abi::{CONNECT_TYPE_DEFAULT, MAX_CLIENTS};
use crate::ioreturn::{
    kIOReturnBadArgument, kIOReturnNoResources, kIOReturnNotPermitted, kIOReturnNotPrivileged,
    IOReturn,
};
use crate::sync::Lock;

const SLOTS: usize = MAX_CLIENTS as usize;
const GENERATION_MASK: u32 = 0x00ff_ffff;

/// Settings from the personality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Capacity of the client table; 0 = [`MAX_CLIENTS`], larger values are clamped to it.
    pub max_clients: u32,
    /// Refuse non-administrators at open.
    pub admin_only_open: bool,
}

/// What the shim must do after a close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Nothing more.
    Nothing,
    /// This close left no client after a refused unload request: terminate the service
    /// (asynchronously). Said once per refused request.
    TerminateService,
}

/// What an external method may know about its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's id.
    pub id: u32,
    /// Administrator, decided at open.
    pub is_admin: bool,
    /// Clients open now (including this one).
    pub open_clients: u32,
    /// A refused unload request is remembered.
    pub unload_pending: bool,
}

/// Where the service is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started, or released.
    Stopped,
    /// Started: clients may open (unless an unload is pending).
    Running,
    /// `terminate()` was allowed: every open is refused until stop.
    Terminating,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    /// 0 = free.
    id: u32,
    is_admin: bool,
    generation: u32,
}

/// The registry's state; a copy is what [`Registry::snapshot`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Life phase.
    pub phase: Phase,
    /// Table capacity in force.
    pub capacity: u32,
    /// Admin-only open in force.
    pub admin_only_open: bool,
    /// A refused unload request is remembered.
    pub unload_pending: bool,
    /// Clients open.
    pub open_clients: u32,
    slots: [Slot; SLOTS],
}

impl Snapshot {
    const STOPPED: Snapshot = Snapshot {
        phase: Phase::Stopped,
        capacity: MAX_CLIENTS,
        admin_only_open: false,
        unload_pending: false,
        open_clients: 0,
        slots: [Slot {
            id: 0,
            is_admin: false,
            generation: 0,
        }; SLOTS],
    };

    fn slot_of(&self, id: u32) -> Option<usize> {
        let index = (id & 0xff).checked_sub(1)? as usize;
        match self.slots.get(index) {
            Some(slot) if id != 0 && slot.id == id => Some(index),
            _ => None,
        }
    }

    fn info(&self, index: usize) -> Option<ClientInfo> {
        let slot = self.slots.get(index)?;
        Some(ClientInfo {
            id: slot.id,
            is_admin: slot.is_admin,
            open_clients: self.open_clients,
            unload_pending: self.unload_pending,
        })
    }
}

/// The client table and unload state.
pub struct Registry {
    state: Lock<Snapshot>,
}

impl Registry {
    /// A stopped registry.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Registry {
            state: Lock::new(Snapshot::STOPPED),
        }
    }

    /// A stopped registry.
    #[cfg(loom)]
    pub fn new() -> Self {
        Registry {
            state: Lock::new(Snapshot::STOPPED),
        }
    }

    /// Service start: Stopped → Running with `config` and an empty table (generations are kept,
    /// so ids stay fresh across restarts). `false` if not stopped.
    pub fn start(&self, config: Config) -> bool {
        self.state.with(|s| {
            if s.phase != Phase::Stopped {
                return false;
            }
            s.phase = Phase::Running;
            s.capacity = match config.max_clients {
                0 => MAX_CLIENTS,
                n => n.min(MAX_CLIENTS),
            };
            s.admin_only_open = config.admin_only_open;
            s.unload_pending = false;
            s.open_clients = 0;
            s.slots.iter_mut().for_each(|slot| slot.id = 0);
            true
        })
    }

    /// Service release: back to Stopped; every later open is refused.
    pub fn stop(&self) {
        self.state.with(|s| {
            s.phase = Phase::Stopped;
            s.unload_pending = false;
        });
    }

    /// Admission of a new client (checks in the order of the module documentation). The new
    /// client's id, or the refusal; a refusal changes nothing.
    pub fn open(&self, connect_type: u32, is_admin: bool) -> Result<u32, IOReturn> {
        if connect_type != CONNECT_TYPE_DEFAULT {
            return Err(kIOReturnBadArgument);
        }
        self.state.with(|s| {
            if s.admin_only_open && !is_admin {
                return Err(kIOReturnNotPrivileged);
            }
            if s.phase != Phase::Running || s.unload_pending {
                return Err(kIOReturnNotPermitted);
            }
            if s.open_clients >= s.capacity {
                return Err(kIOReturnNoResources);
            }
            let (index, slot) = s
                .slots
                .iter_mut()
                .enumerate()
                .find(|(_, slot)| slot.id == 0)
                .ok_or(kIOReturnNoResources)?;
            slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
            slot.id = (slot.generation << 8) | (index as u32 + 1);
            slot.is_admin = is_admin;
            s.open_clients += 1;
            Ok(slot.id)
        })
    }

    /// A client closed (close, death, or rollback of a failed open). Idempotent: an unknown or
    /// already closed id changes nothing and returns [`CloseAction::Nothing`].
    pub fn close(&self, id: u32) -> CloseAction {
        self.state.with(|s| {
            let Some(index) = s.slot_of(id) else {
                return CloseAction::Nothing;
            };
            if let Some(slot) = s.slots.get_mut(index) {
                slot.id = 0;
            }
            s.open_clients = s.open_clients.saturating_sub(1);
            // Opens are refused while the request is pending, so the count cannot reach zero a
            // second time for the same request: this is said exactly once.
            if s.open_clients == 0 && s.unload_pending {
                CloseAction::TerminateService
            } else {
                CloseAction::Nothing
            }
        })
    }

    /// `terminate()`: `Ok` = allow (no client is open; the service is terminating and every
    /// later open is refused). `Err(n)` = refuse, `n` clients are open; the request is remembered.
    pub fn terminate_request(&self) -> Result<(), u32> {
        self.state.with(|s| {
            if s.open_clients > 0 {
                s.unload_pending = true;
                return Err(s.open_clients);
            }
            if s.phase == Phase::Running {
                s.phase = Phase::Terminating;
            }
            s.unload_pending = false;
            Ok(())
        })
    }

    /// `CancelUnload`: forgets a refused unload request, so new clients are accepted again.
    /// Returns whether one was pending (without one, this is a successful no-op).
    pub fn cancel_unload(&self) -> bool {
        self.state
            .with(|s| core::mem::replace(&mut s.unload_pending, false))
    }

    /// The open client `id`, or `None` if it is not open.
    pub fn client(&self, id: u32) -> Option<ClientInfo> {
        self.state
            .with(|s| s.slot_of(id).and_then(|index| s.info(index)))
    }

    /// A copy of the whole state (diagnostics and tests).
    pub fn snapshot(&self) -> Snapshot {
        self.state.with(|s| *s)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    fn running(config: Config) -> Registry {
        let registry = Registry::new();
        assert!(registry.start(config));
        registry
    }

    #[test]
    fn start_only_from_stopped() {
        let r = running(Config::default());
        assert!(!r.start(Config::default()));
        r.stop();
        assert!(r.start(Config::default()));
    }

    #[test]
    fn stopped_registry_refuses_opens() {
        let r = Registry::new();
        assert_eq!(
            r.open(CONNECT_TYPE_DEFAULT, true),
            Err(kIOReturnNotPermitted)
        );
        let r = running(Config::default());
        r.stop();
        assert_eq!(
            r.open(CONNECT_TYPE_DEFAULT, true),
            Err(kIOReturnNotPermitted)
        );
    }

    #[test]
    fn default_capacity_is_64_then_no_resources() {
        let r = running(Config::default());
        let ids: Vec<u32> = (0..64).map(|_| r.open(0, false).unwrap()).collect();
        assert_eq!(r.open(0, false), Err(kIOReturnNoResources));
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 64);
        assert!(ids.iter().all(|&id| id != 0));
        assert_eq!(r.snapshot().open_clients, 64);
    }

    #[test]
    fn capacity_from_config_is_clamped() {
        for (asked, got) in [(1u32, 1u32), (3, 3), (64, 64), (65, 64), (u32::MAX, 64)] {
            let r = running(Config {
                max_clients: asked,
                admin_only_open: false,
            });
            for _ in 0..got {
                r.open(0, false).unwrap();
            }
            let before = r.snapshot();
            assert_eq!(
                r.open(0, false),
                Err(kIOReturnNoResources),
                "max_clients {asked}"
            );
            assert_eq!(r.snapshot(), before, "a refusal changes nothing");
        }
    }

    #[test]
    fn refusal_codes_and_their_precedence() {
        let r = running(Config {
            max_clients: 1,
            admin_only_open: true,
        });
        assert_eq!(
            r.open(1, false),
            Err(kIOReturnBadArgument),
            "connect type first"
        );
        assert_eq!(r.open(1, true), Err(kIOReturnBadArgument));
        assert_eq!(r.open(0, false), Err(kIOReturnNotPrivileged));
        let admin = r.open(0, true).unwrap();
        assert_eq!(r.open(0, true), Err(kIOReturnNoResources));
        assert_eq!(r.terminate_request(), Err(1));
        assert_eq!(
            r.open(0, false),
            Err(kIOReturnNotPrivileged),
            "privilege before unload"
        );
        assert_eq!(
            r.open(0, true),
            Err(kIOReturnNotPermitted),
            "unload before table full"
        );
        assert_eq!(r.close(admin), CloseAction::TerminateService);
    }

    #[test]
    fn admin_flag_is_kept_per_client() {
        let r = running(Config::default());
        let user = r.open(0, false).unwrap();
        let admin = r.open(0, true).unwrap();
        assert!(!r.client(user).unwrap().is_admin);
        assert!(r.client(admin).unwrap().is_admin);
        assert_eq!(r.client(admin).unwrap().open_clients, 2);
    }

    #[test]
    fn ids_are_not_immediately_reused() {
        let r = running(Config::default());
        let first = r.open(0, false).unwrap();
        r.close(first);
        let second = r.open(0, false).unwrap();
        assert_ne!(first, second);
        assert_eq!(r.client(first), None);
        assert_eq!(
            r.close(first),
            CloseAction::Nothing,
            "a stale id closes nothing"
        );
        assert!(r.client(second).is_some());
    }

    #[test]
    fn close_is_idempotent_and_ignores_unknown_ids() {
        let r = running(Config::default());
        let a = r.open(0, false).unwrap();
        let _b = r.open(0, false).unwrap();
        assert_eq!(r.close(a), CloseAction::Nothing);
        let after = r.snapshot();
        for id in [a, 0, 0xff, 0x41, u32::MAX, a ^ 0x100] {
            assert_eq!(r.close(id), CloseAction::Nothing);
            assert_eq!(r.snapshot(), after, "id {id:#x}");
        }
    }

    #[test]
    fn terminate_with_no_client_is_allowed_and_then_opens_are_refused() {
        let r = running(Config::default());
        assert_eq!(r.terminate_request(), Ok(()));
        assert_eq!(r.snapshot().phase, Phase::Terminating);
        assert_eq!(r.open(0, true), Err(kIOReturnNotPermitted));
        assert_eq!(
            r.terminate_request(),
            Ok(()),
            "asking again is still allowed"
        );
    }

    #[test]
    fn refused_terminate_is_remembered_and_the_last_close_orders_termination_once() {
        let r = running(Config::default());
        let a = r.open(0, false).unwrap();
        let b = r.open(0, false).unwrap();
        assert_eq!(r.terminate_request(), Err(2));
        assert!(r.client(a).unwrap().unload_pending);
        assert_eq!(r.open(0, true), Err(kIOReturnNotPermitted));
        assert_eq!(r.close(a), CloseAction::Nothing, "not the last client");
        assert_eq!(r.close(b), CloseAction::TerminateService);
        assert_eq!(r.close(b), CloseAction::Nothing, "death after close");
        assert_eq!(r.close(a), CloseAction::Nothing);
        assert_eq!(
            r.terminate_request(),
            Ok(()),
            "the service's own terminate is allowed"
        );
        assert_eq!(r.snapshot().phase, Phase::Terminating);
    }

    #[test]
    fn cancel_unload_accepts_clients_again_and_the_last_close_does_nothing() {
        let r = running(Config::default());
        let a = r.open(0, true).unwrap();
        assert_eq!(r.terminate_request(), Err(1));
        assert!(r.cancel_unload());
        assert!(!r.cancel_unload(), "nothing pending the second time");
        let b = r.open(0, false).unwrap();
        assert_eq!(r.close(a), CloseAction::Nothing);
        assert_eq!(r.close(b), CloseAction::Nothing);
        // A new refused request after the cancel orders termination again, once.
        let c = r.open(0, false).unwrap();
        assert_eq!(r.terminate_request(), Err(1));
        assert_eq!(r.close(c), CloseAction::TerminateService);
    }

    #[test]
    fn restart_forgets_clients_but_not_generations() {
        let r = running(Config::default());
        let a = r.open(0, false).unwrap();
        r.stop();
        assert!(r.start(Config::default()));
        assert_eq!(r.snapshot().open_clients, 0);
        assert_eq!(r.client(a), None);
        assert_ne!(r.open(0, false).unwrap(), a);
    }
}
