//! A task's IPC space: the names through which it holds rights, and their user references
//! (xnu `osfmk/ipc`: a send right's user references count `IOObjectRetain`/`IOObjectRelease`;
//! one name per port in a task, so a second send right on the same port merges into it; the
//! name of a destroyed port is a dead name until its references are deallocated).
//!
//! Names are `index << 8 | 3`, indexes from 0x10, never reused in a task (Mach reuses an index
//! with a new generation after the name is freed; a stale name here is always invalid, where on
//! macOS it could, much later, name another port).

use crate::TASK_SELF_NAME;
use std::collections::BTreeMap;
use xnu_sim::{Connection, ObjectPort};

/// What a name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Right {
    /// The task's own port (`mach_task_self()`).
    TaskSelf,
    /// A send right on a service's object port.
    Object { port: ObjectPort, urefs: u32 },
    /// A send right on a user-client connection's port.
    Connect { connection: Connection, urefs: u32 },
    /// The port died; the name stays until its references are deallocated.
    Dead { urefs: u32 },
}

/// What deallocating a name's last user reference gives back to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    Nothing,
    ObjectSendRight(ObjectPort),
    ConnectionSendRight(Connection),
}

/// `mach/kern_return.h` `KERN_INVALID_NAME`.
pub const KERN_INVALID_NAME: i32 = crate::codes::KERN_INVALID_NAME;

#[derive(Debug)]
pub struct Space {
    entries: BTreeMap<u32, Right>,
    next_index: u32,
    /// The task died: no right can be received any more.
    dead: bool,
}

impl Default for Space {
    fn default() -> Self {
        Space {
            entries: BTreeMap::from([(TASK_SELF_NAME, Right::TaskSelf)]),
            next_index: 0x10,
            dead: false,
        }
    }
}

impl Space {
    /// The right `name` denotes, if any.
    pub fn get(&self, name: u32) -> Option<Right> {
        self.entries.get(&name).copied()
    }

    fn insert(&mut self, right: Right) -> u32 {
        let name = (self.next_index << 8) | 3;
        self.next_index += 1;
        self.entries.insert(name, right);
        name
    }

    /// Receives a send right on `port`: the existing name with one more reference, or a new
    /// name. Returns the name and whether it merged (the extra send right goes back); `None`
    /// when the task died meanwhile (the right goes back too).
    pub fn receive_object(&mut self, port: ObjectPort) -> Option<(u32, bool)> {
        if self.dead {
            return None;
        }
        for (name, right) in self.entries.iter_mut() {
            if let Right::Object { port: p, urefs } = right {
                if *p == port {
                    *urefs += 1;
                    return Some((*name, true));
                }
            }
        }
        Some((self.insert(Right::Object { port, urefs: 1 }), false))
    }

    /// Receives the send right on a new connection.
    pub fn receive_connection(&mut self, connection: Connection) -> u32 {
        self.insert(Right::Connect {
            connection,
            urefs: 1,
        })
    }

    /// The port `name` denoted died: the name is a dead name with the same references.
    pub fn mark_dead(&mut self, name: u32) {
        if let Some(right) = self.entries.get_mut(&name) {
            let urefs = match *right {
                Right::Object { urefs, .. }
                | Right::Connect { urefs, .. }
                | Right::Dead { urefs } => urefs,
                Right::TaskSelf => return,
            };
            *right = Right::Dead { urefs };
        }
    }

    /// `mach_port_deallocate(task, name)` (xnu `mach_port_deallocate_kernel`): `MACH_PORT_NULL`
    /// and `MACH_PORT_DEAD` succeed doing nothing; a name the task does not hold is
    /// `KERN_INVALID_NAME`; otherwise one user reference less, and the last one frees the name
    /// and gives the right back. The task's own port is not counted (left as it is).
    pub fn deallocate(&mut self, name: u32) -> Result<Released, i32> {
        if name == 0 || name == u32::MAX {
            return Ok(Released::Nothing);
        }
        let right = self.entries.get_mut(&name).ok_or(KERN_INVALID_NAME)?;
        let (urefs, released) = match right {
            Right::TaskSelf => return Ok(Released::Nothing),
            Right::Object { port, urefs } => (urefs, Released::ObjectSendRight(*port)),
            Right::Connect { connection, urefs } => {
                (urefs, Released::ConnectionSendRight(*connection))
            }
            Right::Dead { urefs } => (urefs, Released::Nothing),
        };
        *urefs -= 1;
        if *urefs > 0 {
            return Ok(Released::Nothing);
        }
        self.entries.remove(&name);
        Ok(released)
    }

    /// The task dies: every right goes back (what to release on the kernel's side).
    pub fn terminate(&mut self) -> Vec<Released> {
        let released = self
            .entries
            .values()
            .map(|right| match *right {
                Right::Object { port, .. } => Released::ObjectSendRight(port),
                Right::Connect { connection, .. } => Released::ConnectionSendRight(connection),
                Right::TaskSelf | Right::Dead { .. } => Released::Nothing,
            })
            .filter(|r| *r != Released::Nothing)
            .collect();
        self.entries.clear();
        self.dead = true;
        released
    }
}
