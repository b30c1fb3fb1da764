//! Client registry and unload policy: who may open, what `terminate()` is told, and when the
//! service must terminate itself.
//!
//! All decisions happen under one short lock (never taken on the kauth path), so a terminate
//! request and the opens and closes racing with it are ordered: terminate is never allowed while
//! a client is open, and after a refused request exactly one close (the one that leaves zero
//! clients) orders the self-termination.
//!
//! Admission checks, in this order (the first failing one answers, and nothing changes):
//! 1. connection type other than [`CONNECT_TYPE_DEFAULT`] → `kIOReturnBadArgument`;
//! 2. admin-only open (the `admin-only` setting; the monitor's `RustKextAdminOnly`) by a non-administrator → `kIOReturnNotPrivileged`;
//! 3. service not running (stopped, or terminating), or an unload pending and the caller is not
//!    an administrator → `kIOReturnNotPermitted`;
//! 4. table full → `kIOReturnNoResources`: non-administrators while `max_clients` clients are
//!    open, administrators while `max_clients + ADMIN_RESERVED_CLIENTS` are.
//!
//! Rules 3 and 4 are why no local user can lock an administrator out: root can always open a
//! client, also while an unload is pending, and cancel it (`CancelUnload`).
//!
//! Client ids are nonzero: `generation << 8 | (slot + 1)`, with a per-slot generation that
//! advances on every open, so an id is unique among open clients and not reused by the next
//! client in the same slot (only after 2^24 opens of that slot).

use crate::settings::{Settings, MAX_CLIENTS};
use crate::sync::Lock;
use macos_kext_sys::{kIOReturnBadArgument, kIOReturnNoResources, kIOReturnNotPermitted, kIOReturnNotPrivileged};
use rustkext_abi::{ClientSnapshot, IOReturn};

/// The only connection type `IOServiceOpen` accepts; any other is refused with
/// `kIOReturnBadArgument`.
pub const CONNECT_TYPE_DEFAULT: u32 = 0;

/// Clients only administrators can open: however many clients others hold, root can always open
/// one (to read the state, or to `CancelUnload`).
pub const ADMIN_RESERVED_CLIENTS: u32 = 4;

const SLOTS: usize = (MAX_CLIENTS + ADMIN_RESERVED_CLIENTS) as usize;
const GENERATION_MASK: u32 = 0x00ff_ffff;

/// What the shim must do after a close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Nothing more.
    Nothing,
    /// This close left no client after a refused unload request: terminate the service
    /// (asynchronously). Said once per start; from then on every open is refused.
    TerminateService,
}

/// The answer to a `terminate()` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateAnswer {
    /// Refuse: this many clients are open. The request is remembered; the last close will order
    /// the self-termination.
    Refuse(u32),
    /// Allow, for the first time since start: the shim shuts the service down (withdraws its
    /// resource, closes the gate, unlistens, drains) before it terminates.
    ShutDown,
    /// Allow; nothing of ours is left to shut down (already done, or the service is stopped).
    Proceed,
}

/// Where the service is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started, or released.
    Stopped,
    /// Started: clients may open (only administrators while an unload is pending).
    Running,
    /// Termination was allowed or ordered: every open is refused until stop.
    Terminating,
}

/// The registry's state; a copy is what [`Registry::snapshot`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Life phase.
    pub phase: Phase,
    /// Settings in force.
    pub config: Settings,
    /// A refused unload request is remembered.
    pub unload_pending: bool,
    /// The first allowed terminate request has been answered with [`TerminateAnswer::ShutDown`].
    pub shut_down: bool,
    /// Clients open.
    pub open_clients: u32,
    /// The client table, one array per field (so that `stop` forgets every client with one
    /// `memset` of `ids` rather than a store per slot). Slot `i`: its client's id (0 = free)…
    ids: [u32; SLOTS],
    /// …whether that client is an administrator…
    admins: [bool; SLOTS],
    /// …and the slot's generation, kept while it is free.
    generations: [u32; SLOTS],
}

impl Snapshot {
    const STOPPED: Snapshot = Snapshot {
        phase: Phase::Stopped,
        config: Settings {
            max_clients: MAX_CLIENTS,
            admin_only_open: false,
            observers_for_everyone: false,
        },
        unload_pending: false,
        shut_down: false,
        open_clients: 0,
        ids: [0; SLOTS],
        admins: [false; SLOTS],
        generations: [0; SLOTS],
    };

    /// The slot of the open client `id`; none while stopped (ids of a released service are
    /// dead, whatever a stale user client still holds).
    fn slot_of(&self, id: u32) -> Option<usize> {
        if self.phase == Phase::Stopped {
            return None;
        }
        let index = (id & 0xff).checked_sub(1)? as usize;
        match self.ids.get(index) {
            Some(&slot_id) if id != 0 && slot_id == id => Some(index),
            _ => None,
        }
    }

    fn info(&self, index: usize) -> Option<ClientSnapshot> {
        Some(ClientSnapshot {
            id: *self.ids.get(index)?,
            is_admin: *self.admins.get(index)?,
            open_clients: self.open_clients,
            unload_pending: self.unload_pending,
            observers_for_everyone: self.config.observers_for_everyone,
        })
    }

    /// Rules 3 and 4 of the module documentation.
    fn admits(&self, is_admin: bool) -> Result<(), IOReturn> {
        if self.phase != Phase::Running || (self.unload_pending && !is_admin) {
            return Err(kIOReturnNotPermitted);
        }
        let room = match is_admin {
            true => self.config.max_clients + ADMIN_RESERVED_CLIENTS,
            false => self.config.max_clients,
        };
        if self.open_clients >= room {
            return Err(kIOReturnNoResources);
        }
        Ok(())
    }
}

/// The registry's state as the IORegistry shows it ([`Registry::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Life phase.
    pub phase: Phase,
    /// Clients open.
    pub open_clients: u32,
    /// The `max-clients` setting in force.
    pub max_clients: u32,
    /// A refused unload request is remembered.
    pub unload_pending: bool,
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
    /// so ids stay fresh across restarts). `false` (nothing changed) if not stopped.
    #[inline]
    pub fn start(&self, config: Settings) -> bool {
        self.state.with(|s| {
            if s.phase != Phase::Stopped {
                return false;
            }
            s.phase = Phase::Running;
            s.config = config;
            true
        })
    }

    /// Service release: back to Stopped. Every open client is forgotten (a stale user client is
    /// refused with `kIOReturnNotOpen` from now on), nothing is pending.
    pub fn stop(&self) {
        self.state.with(|s| {
            s.phase = Phase::Stopped;
            s.unload_pending = false;
            s.shut_down = false;
            s.open_clients = 0;
            s.ids = [0; SLOTS];
        });
    }

    /// Admission of a new client (checks in the order of the module documentation). The new
    /// client's id, or the refusal; a refusal changes nothing.
    #[inline]
    pub fn open(&self, connect_type: u32, is_admin: bool) -> Result<u32, IOReturn> {
        if connect_type != CONNECT_TYPE_DEFAULT {
            return Err(kIOReturnBadArgument);
        }
        self.state.with(|s| {
            if s.config.admin_only_open && !is_admin {
                return Err(kIOReturnNotPrivileged);
            }
            s.admits(is_admin)?;
            let index = s.ids.iter().position(|&id| id == 0).ok_or(kIOReturnNoResources)?;
            let (Some(id), Some(admin), Some(generation)) =
                (s.ids.get_mut(index), s.admins.get_mut(index), s.generations.get_mut(index))
            else {
                return Err(kIOReturnNoResources);
            };
            *generation = generation.wrapping_add(1) & GENERATION_MASK;
            *id = (*generation << 8) | (index as u32 + 1);
            *admin = is_admin;
            s.open_clients += 1;
            Ok(*id)
        })
    }

    /// A client closed (close, death, or rollback of a failed open). Idempotent: an unknown or
    /// already closed id changes nothing and returns [`CloseAction::Nothing`].
    #[inline]
    pub fn close(&self, id: u32) -> CloseAction {
        self.state.with(|s| {
            let Some(index) = s.slot_of(id) else {
                return CloseAction::Nothing;
            };
            if let Some(id) = s.ids.get_mut(index) {
                *id = 0;
            }
            s.open_clients = s.open_clients.saturating_sub(1);
            if s.open_clients == 0 && s.unload_pending && s.phase == Phase::Running {
                // The unload goes ahead: from now on nobody opens (not even root), so this is
                // said once per start.
                s.phase = Phase::Terminating;
                s.unload_pending = false;
                CloseAction::TerminateService
            } else {
                CloseAction::Nothing
            }
        })
    }

    /// `terminate()`: see [`TerminateAnswer`].
    #[inline]
    pub fn terminate_request(&self) -> TerminateAnswer {
        self.state.with(|s| {
            if s.phase == Phase::Stopped || s.shut_down {
                return TerminateAnswer::Proceed;
            }
            if s.open_clients > 0 {
                s.unload_pending = true;
                return TerminateAnswer::Refuse(s.open_clients);
            }
            s.phase = Phase::Terminating;
            s.unload_pending = false;
            s.shut_down = true;
            TerminateAnswer::ShutDown
        })
    }

    /// `CancelUnload`: forgets a refused unload request, so new clients are accepted again.
    /// Returns whether one was pending (without one, this is a successful no-op).
    #[inline]
    pub fn cancel_unload(&self) -> bool {
        self.state
            .with(|s| core::mem::replace(&mut s.unload_pending, false))
    }

    /// The open client `id`, or `None` if it is not open.
    #[inline]
    pub fn client(&self, id: u32) -> Option<ClientSnapshot> {
        self.state
            .with(|s| s.slot_of(id).and_then(|index| s.info(index)))
    }

    /// What the IORegistry shows of it (read under the lock, without copying the table).
    #[inline]
    pub fn status(&self) -> Status {
        self.state.with(|s| Status {
            phase: s.phase,
            open_clients: s.open_clients,
            max_clients: s.config.max_clients,
            unload_pending: s.unload_pending,
        })
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

    const USER: bool = false;
    const ROOT: bool = true;

    fn running(config: Settings) -> Registry {
        let registry = Registry::new();
        assert!(registry.start(config));
        registry
    }

    fn with_max(max_clients: u32) -> Settings {
        Settings {
            max_clients,
            ..Settings::default()
        }
    }

    /// `open` that must be refused with `code` and change nothing.
    fn refused(r: &Registry, is_admin: bool, code: IOReturn) {
        let before = r.snapshot();
        assert_eq!(r.open(0, is_admin), Err(code), "admin {is_admin}");
        assert_eq!(r.snapshot(), before, "a refusal changes nothing");
    }

    #[test]
    fn start_only_from_stopped() {
        let r = running(Settings::default());
        assert!(!r.start(Settings::default()));
        r.stop();
        assert!(r.start(Settings::default()));
    }

    #[test]
    fn stopped_registry_refuses_opens() {
        refused(&Registry::new(), ROOT, kIOReturnNotPermitted);
        let r = running(Settings::default());
        r.stop();
        refused(&r, ROOT, kIOReturnNotPermitted);
    }

    #[test]
    fn users_fill_max_clients_and_only_administrators_take_the_reserve() {
        let r = running(Settings::default());
        let users: Vec<u32> = (0..MAX_CLIENTS).map(|_| r.open(0, USER).unwrap()).collect();
        refused(&r, USER, kIOReturnNoResources);
        let admins: Vec<u32> = (0..ADMIN_RESERVED_CLIENTS)
            .map(|_| r.open(0, ROOT).unwrap())
            .collect();
        refused(&r, ROOT, kIOReturnNoResources);
        refused(&r, USER, kIOReturnNoResources);
        let all: HashSet<u32> = users.iter().chain(admins.iter()).copied().collect();
        assert_eq!(all.len(), (MAX_CLIENTS + ADMIN_RESERVED_CLIENTS) as usize);
        assert!(all.iter().all(|&id| id != 0));
        // Everyone counts against max_clients: with 63 users and administrators' clients still
        // filling the place a user left, users wait until fewer than 64 clients are open.
        assert_eq!(r.close(users[0]), CloseAction::Nothing);
        for admin in &admins[..3] {
            assert_eq!(r.close(*admin), CloseAction::Nothing);
            refused(&r, USER, kIOReturnNoResources);
        }
        assert_eq!(r.close(admins[3]), CloseAction::Nothing);
        assert!(r.open(0, USER).is_ok());
        refused(&r, USER, kIOReturnNoResources);
        assert!(r.open(0, ROOT).is_ok(), "the reserve is there again");
    }

    #[test]
    fn capacity_comes_from_the_config() {
        for max in [1u32, 2, 3, 64] {
            let r = running(with_max(max));
            for _ in 0..max {
                r.open(0, USER).unwrap();
            }
            refused(&r, USER, kIOReturnNoResources);
            for _ in 0..ADMIN_RESERVED_CLIENTS {
                r.open(0, ROOT).unwrap();
            }
            refused(&r, ROOT, kIOReturnNoResources);
        }
    }

    #[test]
    fn refusal_codes_and_their_precedence() {
        let r = running(Settings {
            max_clients: 1,
            admin_only_open: true,
            observers_for_everyone: false,
        });
        assert_eq!(
            r.open(1, USER),
            Err(kIOReturnBadArgument),
            "connect type first"
        );
        assert_eq!(r.open(1, ROOT), Err(kIOReturnBadArgument));
        refused(&r, USER, kIOReturnNotPrivileged);
        let admin = r.open(0, ROOT).unwrap();
        assert_eq!(r.terminate_request(), TerminateAnswer::Refuse(1));
        refused(&r, USER, kIOReturnNotPrivileged); // privilege before unload
        let second = r.open(0, ROOT).unwrap(); // an administrator opens while pending
        assert_eq!(r.close(admin), CloseAction::Nothing);
        assert_eq!(r.close(second), CloseAction::TerminateService);
        refused(&r, ROOT, kIOReturnNotPermitted);
    }

    #[test]
    fn while_an_unload_is_pending_only_administrators_open_and_can_cancel() {
        let r = running(Settings::default());
        let user = r.open(0, USER).unwrap();
        assert_eq!(r.terminate_request(), TerminateAnswer::Refuse(1));
        refused(&r, USER, kIOReturnNotPermitted);
        let root = r.open(0, ROOT).unwrap();
        assert!(r.client(root).unwrap().unload_pending);
        assert!(r.cancel_unload());
        let user2 = r.open(0, USER).unwrap();
        for id in [user, root, user2] {
            assert_eq!(
                r.close(id),
                CloseAction::Nothing,
                "cancelled: no termination"
            );
        }
        assert_eq!(r.snapshot().phase, Phase::Running);
    }

    #[test]
    fn admin_flag_is_kept_per_client() {
        let r = running(Settings::default());
        let user = r.open(0, USER).unwrap();
        let admin = r.open(0, ROOT).unwrap();
        assert!(!r.client(user).unwrap().is_admin);
        assert!(r.client(admin).unwrap().is_admin);
        assert_eq!(r.client(admin).unwrap().open_clients, 2);
    }

    #[test]
    fn ids_are_not_immediately_reused() {
        let r = running(Settings::default());
        let first = r.open(0, USER).unwrap();
        r.close(first);
        let second = r.open(0, USER).unwrap();
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
        let r = running(Settings::default());
        let a = r.open(0, USER).unwrap();
        let _b = r.open(0, USER).unwrap();
        assert_eq!(r.close(a), CloseAction::Nothing);
        let after = r.snapshot();
        for id in [a, 0, 0xff, 0x41, u32::MAX, a ^ 0x100] {
            assert_eq!(r.close(id), CloseAction::Nothing);
            assert_eq!(r.snapshot(), after, "id {id:#x}");
        }
    }

    #[test]
    fn terminate_with_no_client_shuts_down_once_and_then_opens_are_refused() {
        let r = running(Settings::default());
        assert_eq!(r.terminate_request(), TerminateAnswer::ShutDown);
        assert_eq!(r.snapshot().phase, Phase::Terminating);
        refused(&r, ROOT, kIOReturnNotPermitted);
        assert_eq!(
            r.terminate_request(),
            TerminateAnswer::Proceed,
            "asking again (kextunload walks inactive services) shuts nothing down twice"
        );
    }

    #[test]
    fn refused_terminate_is_remembered_and_the_last_close_orders_termination_once() {
        let r = running(Settings::default());
        let a = r.open(0, USER).unwrap();
        let b = r.open(0, USER).unwrap();
        assert_eq!(r.terminate_request(), TerminateAnswer::Refuse(2));
        assert!(r.client(a).unwrap().unload_pending);
        assert_eq!(r.close(a), CloseAction::Nothing, "not the last client");
        assert_eq!(r.close(b), CloseAction::TerminateService);
        assert_eq!(r.close(b), CloseAction::Nothing, "death after close");
        assert_eq!(r.close(a), CloseAction::Nothing);
        refused(&r, ROOT, kIOReturnNotPermitted);
        assert_eq!(r.terminate_request(), TerminateAnswer::ShutDown);
        assert_eq!(r.snapshot().phase, Phase::Terminating);
    }

    #[test]
    fn cancel_unload_accepts_clients_again_and_a_new_request_orders_termination_once() {
        let r = running(Settings::default());
        let a = r.open(0, ROOT).unwrap();
        assert_eq!(r.terminate_request(), TerminateAnswer::Refuse(1));
        assert!(r.cancel_unload());
        assert!(!r.cancel_unload(), "nothing pending the second time");
        let b = r.open(0, USER).unwrap();
        assert_eq!(r.close(a), CloseAction::Nothing);
        assert_eq!(r.close(b), CloseAction::Nothing);
        let c = r.open(0, USER).unwrap();
        assert_eq!(r.terminate_request(), TerminateAnswer::Refuse(1));
        assert_eq!(r.close(c), CloseAction::TerminateService);
    }

    #[test]
    fn after_stop_clients_are_forgotten_and_terminate_requests_change_nothing() {
        let r = running(Settings::default());
        let a = r.open(0, ROOT).unwrap();
        r.stop();
        assert_eq!(r.client(a), None, "a stale client is no longer served");
        assert_eq!(r.close(a), CloseAction::Nothing);
        let before = r.snapshot();
        assert_eq!(r.terminate_request(), TerminateAnswer::Proceed);
        assert_eq!(
            r.snapshot(),
            before,
            "no unload marked pending on a stopped driver"
        );
        assert!(!before.unload_pending);
    }

    #[test]
    fn restart_forgets_clients_but_not_generations() {
        let r = running(Settings::default());
        let a = r.open(0, USER).unwrap();
        r.stop();
        assert!(r.start(Settings::default()));
        assert_eq!(r.snapshot().open_clients, 0);
        assert_eq!(r.client(a), None);
        assert_ne!(r.open(0, USER).unwrap(), a);
    }
}
