//! The reference model of the driver behind the C ABI: settings, admission, the unload policy,
//! the external methods, the FILEOP counters and the path filter, as docs/user-client-api.md and docs/lifecycle.md document them.
//! It is deliberately naive (a list of clients, plain counters, `starts_with`), so that it is
//! easy to check against the documentation by reading.

use std::collections::HashSet;

use crate::spec::{self, Who};

/// A personality property as the shim finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prop {
    /// Not in the personality.
    Absent,
    /// An `OSNumber`.
    Number(u64),
    /// An `OSBoolean`.
    Bool(bool),
    /// Any other type.
    Other,
}

/// The three properties the driver reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Personality {
    /// `RustKextMaxClients`.
    pub max_clients: Prop,
    /// `RustKextAdminOnly`.
    pub admin_only: Prop,
    /// `RustKextStatsForEveryone`.
    pub stats_for_everyone: Prop,
}

impl Personality {
    /// Every property absent (the defaults).
    pub const DEFAULT: Personality = Personality {
        max_clients: Prop::Absent,
        admin_only: Prop::Absent,
        stats_for_everyone: Prop::Absent,
    };
}

/// The settings in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Clients open at once for non-administrators.
    pub max_clients: u32,
    /// Only administrators open.
    pub admin_only: bool,
    /// Everyone may call `GetStats`.
    pub stats_for_everyone: bool,
}

impl Config {
    /// The defaults: 64, false, false.
    pub const DEFAULT: Config = Config {
        max_clients: spec::MAX_CLIENTS,
        admin_only: false,
        stats_for_everyone: false,
    };

    /// docs/lifecycle.md: "absent or 0 = 64, larger values clamped to 64 in 64 bits"; booleans "absent =
    /// false"; "A property of any other type is a configuration error: the service does not
    /// start" (`None`).
    pub fn from_personality(p: &Personality) -> Option<Config> {
        let max_clients = match p.max_clients {
            Prop::Absent | Prop::Number(0) => spec::MAX_CLIENTS,
            Prop::Number(n) => u32::try_from(n.min(u64::from(spec::MAX_CLIENTS))).ok()?,
            Prop::Bool(_) | Prop::Other => return None,
        };
        let flag = |prop: Prop| match prop {
            Prop::Absent => Some(false),
            Prop::Bool(b) => Some(b),
            Prop::Number(_) | Prop::Other => None,
        };
        Some(Config {
            max_clients,
            admin_only: flag(p.admin_only)?,
            stats_for_everyone: flag(p.stats_for_everyone)?,
        })
    }
}

/// Where the service is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started, or released.
    Stopped,
    /// Started; clients may open.
    Running,
    /// Termination allowed or ordered; every open is refused until stop.
    Terminating,
}

/// The answer to a terminate request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminate {
    /// Refused; this many clients are open.
    Refuse(u32),
    /// The first allowed request since start.
    ShutDown,
    /// Nothing of ours is left to shut down.
    Proceed,
}

/// What a successful external method returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Output scalars written.
    pub scalars: Vec<u64>,
    /// Output struct bytes written.
    pub bytes: Vec<u8>,
    /// The output count and size set on success (the table's).
    pub counts: [u32; 2],
}

/// The driver, as documented.
#[derive(Clone, Debug)]
pub struct Model {
    /// Life phase.
    pub phase: Phase,
    /// FILEOP callbacks are admitted.
    pub gate_open: bool,
    /// Settings of the last start (the initial ones are the defaults).
    pub config: Config,
    /// Open clients: (id, administrator), in order of opening.
    pub clients: Vec<(u32, bool)>,
    /// A refused unload request is remembered.
    pub unload_pending: bool,
    /// The first allowed terminate request was answered "shut down".
    pub shut_down: bool,
    /// `RK_CLOSE_TERMINATE_SERVICE` answers since start (documented: at most one).
    pub self_terminations: u32,
    /// `Stats.events`.
    pub events: [u64; 9],
    /// `Stats.filter_matched`.
    pub matched: u64,
    /// `Stats.peak_in_flight`: 1 once an event ran since the last reset (one thread here).
    pub peak: u64,
    /// Callbacks refused by the closed gate since the last reset (logged at release).
    pub refused: u64,
    /// The path filter's prefix (empty: no filter).
    pub filter: Vec<u8>,
    /// The interface's ABI fingerprint `DESCRIBE` answers: a digest of the declaration, which
    /// the model takes from the caller (it cannot derive it independently; the count is its own).
    pub fingerprint: u64,
    issued: HashSet<u32>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// A driver that was never started, whose interface has this fingerprint.
    pub fn with_fingerprint(fingerprint: u64) -> Model {
        Model {
            fingerprint,
            ..Model::new()
        }
    }

    /// A driver that was never started.
    pub fn new() -> Model {
        Model {
            phase: Phase::Stopped,
            gate_open: false,
            config: Config::DEFAULT,
            clients: Vec::new(),
            unload_pending: false,
            shut_down: false,
            self_terminations: 0,
            events: [0; 9],
            matched: 0,
            peak: 0,
            refused: 0,
            filter: Vec::new(),
            fingerprint: 0,
            issued: HashSet::new(),
        }
    }

    fn reset_stats(&mut self) {
        self.events = [0; 9];
        self.matched = 0;
        self.peak = 0;
        self.refused = 0;
    }

    /// `rk_service_start`: whether it starts (a non-NULL driver). A refusal changes nothing.
    pub fn start(&mut self, personality: &Personality) -> bool {
        let Some(config) = Config::from_personality(personality) else {
            return false;
        };
        if self.phase != Phase::Stopped {
            return false;
        }
        self.phase = Phase::Running;
        self.config = config;
        self.reset_stats();
        self.filter.clear();
        self.gate_open = true;
        self.self_terminations = 0;
        true
    }

    /// `rk_service_release`: returns the value of the log line ("callbacks refused after the
    /// gate closed").
    pub fn release(&mut self) -> u64 {
        self.phase = Phase::Stopped;
        self.clients.clear();
        self.unload_pending = false;
        self.shut_down = false;
        self.gate_open = false;
        self.refused
    }

    /// `rk_service_close_gate` (and the first thing `rk_service_drain` does).
    pub fn close_gate(&mut self) {
        self.gate_open = false;
    }

    /// Clients open now.
    pub fn open_clients(&self) -> u32 {
        self.clients.len() as u32
    }

    /// Whether `id` is open, and if so whether it is an administrator's.
    pub fn client(&self, id: u32) -> Option<bool> {
        self.clients
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, admin)| *admin)
    }

    /// Admission (docs/lifecycle.md), in the documented order. `Ok` = admitted; the caller
    /// then reports the id the implementation chose with [`Model::admitted`].
    pub fn open(&self, connect_type: u32, is_admin: bool) -> Result<(), i32> {
        if connect_type != 0 {
            return Err(spec::BAD_ARGUMENT);
        }
        if self.config.admin_only && !is_admin {
            return Err(spec::NOT_PRIVILEGED);
        }
        if self.phase != Phase::Running || (self.unload_pending && !is_admin) {
            return Err(spec::NOT_PERMITTED);
        }
        let room = self.config.max_clients + if is_admin { spec::ADMIN_RESERVE } else { 0 };
        if self.open_clients() >= room {
            return Err(spec::NO_RESOURCES);
        }
        Ok(())
    }

    /// Records the id of an admitted client; an error says which promise it breaks: ids are
    /// nonzero, unique among open clients, and never reused (docs/lifecycle.md: "not reused by the next
    /// client of the same slot", rustkext.h: "never reused across a restart"; only after 2^24
    /// opens of one slot, which no input reaches).
    pub fn admitted(&mut self, id: u32, is_admin: bool) -> Result<(), String> {
        if id == 0 {
            return Err("client id 0".into());
        }
        if self.client(id).is_some() {
            return Err(format!(
                "client id {id:#x} given to a second client while open"
            ));
        }
        if !self.issued.insert(id) {
            return Err(format!("client id {id:#x} reused"));
        }
        self.clients.push((id, is_admin));
        Ok(())
    }

    /// `rk_client_close` (close, death, rollback): whether it answers "terminate the service".
    pub fn close(&mut self, id: u32) -> bool {
        let Some(at) = self.clients.iter().position(|(c, _)| *c == id) else {
            return false;
        };
        self.clients.remove(at);
        if self.clients.is_empty() && self.unload_pending && self.phase == Phase::Running {
            self.phase = Phase::Terminating;
            self.unload_pending = false;
            self.self_terminations += 1;
            return true;
        }
        false
    }

    /// `rk_service_terminate_request`.
    pub fn terminate(&mut self) -> Terminate {
        if self.phase == Phase::Stopped || self.shut_down {
            return Terminate::Proceed;
        }
        if !self.clients.is_empty() {
            self.unload_pending = true;
            return Terminate::Refuse(self.open_clients());
        }
        self.phase = Phase::Terminating;
        self.unload_pending = false;
        self.shut_down = true;
        Terminate::ShutDown
    }

    /// One FILEOP callback. `paths[i]` is the path in argument `i` (bytes before its NUL) where
    /// the action carries one there and it is not NULL. Returns whether it was counted.
    pub fn fileop(&mut self, action_number: usize, paths: [Option<&[u8]>; 4]) -> bool {
        if !self.gate_open {
            self.refused = self.refused.wrapping_add(1);
            return false;
        }
        let slot = spec::event_slot(action_number);
        self.events[slot] = self.events[slot].wrapping_add(1);
        let carries = spec::path_args(action_number);
        let matched = !self.filter.is_empty()
            && paths.iter().zip(carries).any(|(path, carried)| {
                carried && path.is_some_and(|p| p.starts_with(&self.filter))
            });
        if matched {
            self.matched = self.matched.wrapping_add(1);
        }
        self.peak = 1;
        true
    }

    /// The `Stats` bytes `GetStats` returns now (native byte order, no padding).
    pub fn stats_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(spec::STATS_SIZE);
        out.extend_from_slice(&spec::STATS_VERSION.to_ne_bytes());
        out.extend_from_slice(&(spec::STATS_SIZE as u32).to_ne_bytes());
        for v in self.events.iter().chain(&[self.matched, 0, self.peak]) {
            out.extend_from_slice(&v.to_ne_bytes());
        }
        out
    }

    /// The checks before a method runs, in the documented order: the client is open
    /// (`kIOReturnNotOpen`), the selector is in the table, the four counts are exactly the
    /// table's (`kIOReturnBadArgument`), the privilege (`kIOReturnNotPrivileged`).
    pub fn validate(
        &self,
        client_id: u32,
        selector: u32,
        counts: [u32; 4],
    ) -> Result<spec::Row, i32> {
        let is_admin = self.client(client_id).ok_or(spec::NOT_OPEN)?;
        let row = spec::row(selector).ok_or(spec::BAD_ARGUMENT)?;
        if counts != row.shape {
            return Err(spec::BAD_ARGUMENT);
        }
        let allowed = match row.who {
            Who::Anyone => true,
            Who::Admin => is_admin,
            Who::StatsReader => is_admin || self.config.stats_for_everyone,
        };
        if !allowed {
            return Err(spec::NOT_PRIVILEGED);
        }
        Ok(row)
    }

    /// An external method after the argument block was found well formed: checks in the
    /// documented order (client open, selector, exact counts, privilege, the method's own input
    /// rule), then the method. A refusal changes nothing.
    pub fn method(
        &mut self,
        client_id: u32,
        selector: u32,
        counts: [u32; 4],
        scalar_in: &[u64],
        struct_in: &[u8],
    ) -> Result<Output, i32> {
        let row = self.validate(client_id, selector, counts)?;
        let mut out = Output {
            scalars: Vec::new(),
            bytes: Vec::new(),
            counts: [row.shape[2], row.shape[3]],
        };
        match selector {
            spec::PING => {
                out.scalars = vec![scalar_in.first().copied().unwrap_or(0).wrapping_add(1)]
            }
            spec::GET_VERSION => out.scalars = spec::ABI_VERSION.to_vec(),
            spec::GET_STATS => out.bytes = self.stats_bytes(),
            spec::RESET_STATS => self.reset_stats(),
            spec::SET_PATH_FILTER => {
                let end = struct_in
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(spec::BAD_ARGUMENT)?;
                let prefix = &struct_in[..end];
                if std::str::from_utf8(prefix).is_err() {
                    return Err(spec::BAD_ARGUMENT);
                }
                self.filter = prefix.to_vec();
            }
            spec::GET_CLIENT_INFO => {
                out.scalars = vec![
                    u64::from(client_id),
                    u64::from(self.open_clients()),
                    u64::from(self.unload_pending),
                ];
            }
            spec::CANCEL_UNLOAD => self.unload_pending = false,
            spec::DESCRIBE => out.scalars = vec![self.fingerprint, spec::TABLE.len() as u64],
            _ => unreachable!("row() knows selectors 0..=6 and DESCRIBE only"),
        }
        Ok(out)
    }
}
