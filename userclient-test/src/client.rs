//! A typed client over a [`Backend`] connection: one method per selector, exact shapes, and a
//! tally of every code the kernel answered (the report prints it).

use crate::backend::{Backend, Call, CallOutput, Connection, User};
use crate::codes::{kIOReturnSuccess, Code, IOReturn};
use rustkext::abi::{Selector, Stats, CONNECT_TYPE_DEFAULT, PATH_FILTER_SIZE};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

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

/// A call the kernel refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What was asked (`IOServiceOpen`, `Ping`, ...).
    pub what: &'static str,
    pub code: IOReturn,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused with {}", self.what, Code(self.code))
    }
}

/// `GetClientInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientInfo {
    pub client_id: u64,
    pub open_clients: u64,
    pub unload_pending: bool,
}

/// The `SetPathFilter` input: a prefix that fits, NUL-terminated and padded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterBuf(Vec<u8>);

impl FilterBuf {
    /// `prefix` as the kernel takes it; the empty prefix clears the filter.
    pub fn new(prefix: &str) -> Result<FilterBuf, String> {
        if prefix.len() >= PATH_FILTER_SIZE {
            return Err(format!(
                "path prefix is {} bytes; at most {} fit",
                prefix.len(),
                PATH_FILTER_SIZE - 1
            ));
        }
        if prefix.contains('\0') {
            return Err("path prefix contains a NUL byte".into());
        }
        let mut buf = vec![0u8; PATH_FILTER_SIZE];
        buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
        Ok(FilterBuf(buf))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// One open connection. Closed by [`Client::close`], or on drop so that a scenario that stops
/// early leaves no client behind.
pub struct Client<'a> {
    backend: &'a dyn Backend,
    seen: &'a Seen,
    conn: Connection,
    open: bool,
}

impl<'a> Client<'a> {
    /// `IOServiceOpen` with the default connection type.
    pub fn open(backend: &'a dyn Backend, seen: &'a Seen, user: User) -> Result<Self, Refused> {
        Self::open_type(backend, seen, user, CONNECT_TYPE_DEFAULT)
    }

    /// `IOServiceOpen` with any connection type.
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
        })?;
        Ok(Client {
            backend,
            seen,
            conn,
            open: true,
        })
    }

    /// Any call, shapes as given; the raw answer.
    pub fn call(&self, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        let result = self.backend.call(self.conn, call);
        self.seen
            .note(result.as_ref().err().copied().unwrap_or(kIOReturnSuccess));
        result
    }

    /// `selector` with its exact shape.
    pub fn call_exact(
        &self,
        selector: Selector,
        scalars_in: &[u64],
        struct_in: &[u8],
    ) -> Result<CallOutput, Refused> {
        let shape = selector.shape();
        self.call(&Call {
            selector: selector as u32,
            scalars_in,
            struct_in,
            scalar_out_capacity: shape.scalar_output_count,
            struct_out_capacity: shape.struct_output_size,
        })
        .map_err(|code| Refused {
            what: selector_name(selector),
            code,
        })
    }

    pub fn ping(&self, value: u64) -> Result<u64, Refused> {
        let out = self.call_exact(Selector::Ping, &[value], &[])?;
        Ok(out.scalars.first().copied().unwrap_or_default())
    }

    /// (major, minor, patch).
    pub fn version(&self) -> Result<(u64, u64, u64), Refused> {
        let s = self.call_exact(Selector::GetVersion, &[], &[])?.scalars;
        Ok((scalar(&s, 0), scalar(&s, 1), scalar(&s, 2)))
    }

    pub fn stats(&self) -> Result<Stats, Refused> {
        let out = self.call_exact(Selector::GetStats, &[], &[])?;
        Stats::from_bytes(&out.bytes).ok_or(Refused {
            what: "GetStats (short answer)",
            code: crate::codes::kIOReturnError,
        })
    }

    pub fn reset_stats(&self) -> Result<(), Refused> {
        self.call_exact(Selector::ResetStats, &[], &[]).map(drop)
    }

    pub fn set_filter(&self, filter: &FilterBuf) -> Result<(), Refused> {
        self.call_exact(Selector::SetPathFilter, &[], filter.bytes())
            .map(drop)
    }

    pub fn client_info(&self) -> Result<ClientInfo, Refused> {
        let s = self.call_exact(Selector::GetClientInfo, &[], &[])?.scalars;
        Ok(ClientInfo {
            client_id: scalar(&s, 0),
            open_clients: scalar(&s, 1),
            unload_pending: scalar(&s, 2) != 0,
        })
    }

    pub fn cancel_unload(&self) -> Result<(), Refused> {
        self.call_exact(Selector::CancelUnload, &[], &[]).map(drop)
    }

    /// `IOServiceClose`; its answer.
    pub fn close(mut self) -> IOReturn {
        self.open = false;
        let code = self.backend.close(self.conn);
        self.seen.note(code);
        code
    }
}

impl Drop for Client<'_> {
    fn drop(&mut self) {
        if self.open {
            self.seen.note(self.backend.close(self.conn));
        }
    }
}

/// The selector's name as the DESIGN table spells it.
pub fn selector_name(selector: Selector) -> &'static str {
    match selector {
        Selector::Ping => "Ping",
        Selector::GetVersion => "GetVersion",
        Selector::GetStats => "GetStats",
        Selector::ResetStats => "ResetStats",
        Selector::SetPathFilter => "SetPathFilter",
        Selector::GetClientInfo => "GetClientInfo",
        Selector::CancelUnload => "CancelUnload",
    }
}

fn scalar(s: &[u64], i: usize) -> u64 {
    s.get(i).copied().unwrap_or_default()
}
