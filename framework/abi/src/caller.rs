//! Who is calling: the privilege markers, the client's snapshot and the framework's services.

use core::marker::PhantomData;

use crate::table::Privilege;

/// A privilege marker: the type parameter of [`Caller`] in a method's signature *is* the
/// method's privilege in the table. An implementation cannot weaken it: `Caller<'_, Anyone>`
/// where the trait says `Caller<'_, Admin>` is a type error.
pub trait Level {
    /// The privilege it stands for.
    const PRIVILEGE: Privilege;
}

/// Any open client.
#[derive(Debug)]
pub enum Anyone {}
/// Administrators, or everyone when the personality's `observers-for-everyone` setting is true.
#[derive(Debug)]
pub enum Observer {}
/// Administrators only.
#[derive(Debug)]
pub enum Admin {}

impl Level for Anyone {
    const PRIVILEGE: Privilege = Privilege::Anyone;
}
impl Level for Observer {
    const PRIVILEGE: Privilege = Privilege::Observer;
}
impl Level for Admin {
    const PRIVILEGE: Privilege = Privilege::Admin;
}

/// What the framework knows about the calling client, taken when the call was admitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientSnapshot {
    /// The client's id (nonzero, unique among open clients).
    pub id: u32,
    /// Administrator, decided once at open.
    pub is_admin: bool,
    /// Clients open now, this one included.
    pub open_clients: u32,
    /// A refused unload request is remembered (the kext unloads after the last close).
    pub unload_pending: bool,
    /// The personality opens [`Observer`] methods to everyone.
    pub observers_for_everyone: bool,
}

/// The framework's services a method body may use (implemented by the runtime).
pub trait Services {
    /// The peak number of kauth callbacks in flight since start or the last reset.
    fn peak_in_flight(&self) -> u64;
    /// Zeroes the callback gate's statistics (peak, refusals).
    fn reset_gate_stats(&self);
    /// Forgets a refused unload request; whether one was pending.
    fn cancel_unload(&self) -> bool;
}

/// The client and the services, as the dispatcher hands them to a method.
pub struct CallerInfo<'a> {
    /// The client.
    pub client: ClientSnapshot,
    /// The framework's services.
    pub services: &'a dyn Services,
}

/// The caller of a method, with its privilege `P` checked: built only by the dispatcher, after
/// the check (see [`Level`]).
pub struct Caller<'a, P: Level> {
    info: &'a CallerInfo<'a>,
    _privilege: PhantomData<P>,
}

impl<'a, P: Level> Caller<'a, P> {
    /// For the generated dispatcher only, after it checked `P` against the client.
    #[doc(hidden)]
    #[inline]
    pub fn __checked(info: &'a CallerInfo<'a>) -> Self {
        Caller { info, _privilege: PhantomData }
    }

    /// The client's id.
    #[inline]
    pub fn client_id(&self) -> u32 {
        self.info.client.id
    }

    /// Whether the client is an administrator.
    #[inline]
    pub fn is_admin(&self) -> bool {
        self.info.client.is_admin
    }

    /// Clients open now, this one included.
    #[inline]
    pub fn open_clients(&self) -> u32 {
        self.info.client.open_clients
    }

    /// Whether a refused unload request is pending.
    #[inline]
    pub fn unload_pending(&self) -> bool {
        self.info.client.unload_pending
    }

    /// The peak number of kauth callbacks in flight since start or the last reset.
    #[inline]
    pub fn peak_in_flight(&self) -> u64 {
        self.info.services.peak_in_flight()
    }

    /// `[client id, open clients, unload pending (0/1)]`: the `client_info` built-in.
    #[inline]
    pub fn client_info(&self) -> [u64; 3] {
        let c = &self.info.client;
        [u64::from(c.id), u64::from(c.open_clients), u64::from(c.unload_pending)]
    }
}

impl Caller<'_, Admin> {
    /// Zeroes the callback gate's statistics (peak in flight, refusals).
    #[inline]
    pub fn reset_gate_stats(&self) {
        self.info.services.reset_gate_stats()
    }

    /// Forgets a refused unload request (new clients are accepted again); whether one was
    /// pending. The `cancel_unload` built-in.
    #[inline]
    pub fn cancel_unload(&self) -> bool {
        self.info.services.cancel_unload()
    }
}
