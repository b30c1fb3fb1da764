//! The harness's client: the generated client of the monitor's interface (`MonitorClient` from
//! `rustkext-monitor-api`, feature `client`: one method per selector, the ABI fingerprint checked
//! at open) over a [`Backend`] connection, which tallies every code the kernel answered (the
//! report prints it). Nothing here knows a selector: names, shapes and privileges are the
//! interface's table.

use crate::backend::{Backend, Call, CallOutput, Connection, User};
use crate::codes::{kIOReturnError, kIOReturnSuccess, Code, IOReturn};
use rustkext_abi::client::{Error, Output, Transport};
use rustkext_abi::{Entry, Interface};
use rustkext_monitor_api::{Monitor, MonitorClient};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The only connection type `IOServiceOpen` accepts; the framework refuses any other with
/// `kIOReturnBadArgument`.
pub const CONNECT_TYPE_DEFAULT: u32 = 0;

/// The monitor's method table, as `#[interface]` generated it.
pub fn table() -> &'static [Entry] {
    <dyn Monitor as Interface>::TABLE
}

/// Every code seen, with how often.
#[derive(Debug, Default)]
pub struct Seen(Mutex<BTreeMap<IOReturn, u64>>);

impl Seen {
    /// Counts one answer.
    pub fn note(&self, code: IOReturn) {
        self.add(code, 1);
    }

    /// Counts `n` answers with the same code.
    pub fn add(&self, code: IOReturn, n: u64) {
        if n > 0 {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *map.entry(code).or_default() += n;
        }
    }

    /// The tally, by code.
    pub fn counts(&self) -> Vec<(Code, u64)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(c, n)| (Code(*c), *n)).collect()
    }
}

/// A call the kernel refused (or answered wrongly, or a kernel serving another interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What was asked (`IOServiceOpen`, `Ping`, ...).
    pub what: &'static str,
    /// The kernel's code (`kIOReturnError` when the kernel did not refuse, see `detail`).
    pub code: IOReturn,
    /// Why, when it was not a refusal (an ABI mismatch, a malformed answer).
    pub detail: Option<String>,
}

impl From<Error> for Refused {
    fn from(e: Error) -> Refused {
        match e {
            Error::Refused { method, code } => Refused {
                what: method,
                code,
                detail: None,
            },
            Error::AbiMismatch { .. } => Refused {
                what: "IOServiceOpen (ABI fingerprint)",
                code: kIOReturnError,
                detail: Some(e.to_string()),
            },
            Error::BadAnswer { method, .. } => Refused {
                what: method,
                code: kIOReturnError,
                detail: Some(e.to_string()),
            },
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{}: {detail}", self.what),
            None => write!(f, "{} refused with {}", self.what, Code(self.code)),
        }
    }
}

/// `GetClientInfo`'s three scalars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientInfo {
    pub client_id: u64,
    pub open_clients: u64,
    pub unload_pending: bool,
}

impl From<[u64; 3]> for ClientInfo {
    fn from([client_id, open_clients, pending]: [u64; 3]) -> ClientInfo {
        ClientInfo {
            client_id,
            open_clients,
            unload_pending: pending != 0,
        }
    }
}

/// One backend connection as the generated client's transport; closed on drop.
pub struct Link<'a> {
    backend: &'a dyn Backend,
    seen: &'a Seen,
    conn: Connection,
    open: AtomicBool,
}

impl Link<'_> {
    /// Any call, shapes as given; the raw answer (tallied).
    pub fn raw(&self, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        let result = self.backend.call(self.conn, call);
        self.seen
            .note(result.as_ref().err().copied().unwrap_or(kIOReturnSuccess));
        result
    }

    /// `IOServiceClose`; its answer (tallied).
    pub fn close(&self) -> IOReturn {
        self.open.store(false, Ordering::Relaxed);
        let code = self.backend.close(self.conn);
        self.seen.note(code);
        code
    }
}

impl Transport for Link<'_> {
    fn call(
        &self,
        selector: u32,
        scalars: &[u64],
        bytes: &[u8],
        sc: u32,
        bc: u32,
    ) -> Result<Output, IOReturn> {
        let call = Call {
            selector,
            scalars_in: scalars,
            struct_in: bytes,
            scalar_out_capacity: sc,
            struct_out_capacity: bc,
        };
        self.raw(&call)
    }
}

impl Drop for Link<'_> {
    fn drop(&mut self) {
        if self.open.load(Ordering::Relaxed) {
            self.close();
        }
    }
}

/// One open connection, through the generated client (`Deref`: `ping`, `get_stats`, ...).
/// Closed by [`Client::close`], or on drop so that a scenario that stops early leaves no client
/// behind.
pub struct Client<'a>(MonitorClient<Link<'a>>);

impl<'a> Deref for Client<'a> {
    type Target = MonitorClient<Link<'a>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> Client<'a> {
    /// `IOServiceOpen` with the default connection type, then the generated client's check of
    /// the kernel's ABI fingerprint.
    pub fn open(backend: &'a dyn Backend, seen: &'a Seen, user: User) -> Result<Self, Refused> {
        Self::open_type(backend, seen, user, CONNECT_TYPE_DEFAULT)
    }

    /// The same with any connection type.
    pub fn open_type(
        backend: &'a dyn Backend,
        seen: &'a Seen,
        user: User,
        connect_type: u32,
    ) -> Result<Self, Refused> {
        let result = backend.open(user, connect_type);
        seen.note(result.err().unwrap_or(kIOReturnSuccess));
        let conn = result.map_err(|code| Refused {
            what: "IOServiceOpen",
            code,
            detail: None,
        })?;
        let link = Link {
            backend,
            seen,
            conn,
            open: AtomicBool::new(true),
        };
        Ok(Client(MonitorClient::open(link)?))
    }

    /// Any call, shapes as given; the raw answer.
    pub fn call(&self, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        self.0.transport().raw(call)
    }

    /// Method `selector` of the table with its exact shape and these inputs.
    pub fn call_exact(
        &self,
        selector: u32,
        scalars_in: &[u64],
        struct_in: &[u8],
    ) -> Result<CallOutput, Refused> {
        let entry = table().get(selector as usize).ok_or(Refused {
            what: "selector",
            code: kIOReturnError,
            detail: None,
        })?;
        self.call(&Call {
            selector,
            scalars_in,
            struct_in,
            scalar_out_capacity: entry.shape.scalar_output_count,
            struct_out_capacity: entry.shape.struct_output_size,
        })
        .map_err(|code| Refused {
            what: entry.name,
            code,
            detail: None,
        })
    }

    /// `IOServiceClose`; its answer.
    pub fn close(self) -> IOReturn {
        self.0.transport().close()
    }
}
