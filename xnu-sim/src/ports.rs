//! What user space holds on kernel objects, and the per-task state behind `IOServiceOpen`: object
//! ports for services (`src/model/object_ports.cpp`), a connection's last send right dropped
//! without `IOServiceClose`, and a task's effective uid changing (`seteuid`). Used by drivers of
//! the model that keep a task's IPC space themselves (the IOKitLib stand-in's kernel server).

use crate::{c, Connection, IOReturn, Kernel, TaskId};
use std::ffi::c_char;

mod ffi {
    use std::ffi::c_char;

    extern "C" {
        pub fn xsim_object_port_matching_service(class_name: *const c_char, port: *mut u64) -> i32;
        pub fn xsim_object_port_release_send(port: u64);
        pub fn xsim_object_port_alive(port: u64) -> bool;
        pub fn xsim_object_port_count() -> u32;
        pub fn xsim_object_port_class(port: u64, buffer: *mut c_char, capacity: usize) -> bool;
        pub fn xsim_object_port_open(port: u64, task: u32, kind: u32, connection: *mut u64) -> i32;
        pub fn xsim_task_set_euid(task: u32, euid: u32) -> bool;
        pub fn xsim_connection_deallocate(connection: u64) -> bool;
        pub fn xsim_object_port_get_properties(port: u64, buffer: *mut c_char, capacity: usize, length: *mut usize) -> i32;
    }
}

/// A property value as user space rebuilds it from the kernel's serialization
/// (`IORegistryEntryCreateCFProperties`: CFString, CFNumber, CFBoolean, CFDictionary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryValue {
    /// OSString (and OSObject::serialize's "<class> is not serializable" for other objects).
    String(String),
    /// OSNumber: its value (a CFNumber of 64 bits).
    Number(u64),
    /// OSBoolean.
    Bool(bool),
    /// OSDictionary, in key order.
    Dictionary(Vec<(String, RegistryValue)>),
}

impl RegistryValue {
    /// The value of `key` if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&RegistryValue> {
        match self {
            RegistryValue::Dictionary(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// The model's serialization (object.cpp `OSSerialize`) as a dictionary.
fn parse_serialized(text: &str) -> Option<RegistryValue> {
    // A stack of open dictionaries: (depth of its values, entries, key it goes under).
    let mut stack: Vec<(Vec<(String, RegistryValue)>, String)> = vec![(Vec::new(), String::new())];
    for line in text.lines() {
        let mut fields = line.splitn(4, '\t');
        let depth: usize = fields.next()?.parse().ok()?;
        let kind = fields.next()?;
        let key = unescape(fields.next()?);
        let value = fields.next()?;
        while stack.len() > depth + 1 {
            let (entries, under) = stack.pop()?;
            stack.last_mut()?.0.push((under, RegistryValue::Dictionary(entries)));
        }
        if stack.len() != depth + 1 {
            return None;
        }
        let value = match kind {
            "d" => {
                stack.push((Vec::new(), key));
                continue;
            }
            "s" => RegistryValue::String(unescape(value)),
            "n" => RegistryValue::Number(value.split_once(':')?.1.parse().ok()?),
            "b" => RegistryValue::Bool(value == "1"),
            _ => return None,
        };
        stack.last_mut()?.0.push((key, value));
    }
    while stack.len() > 1 {
        let (entries, under) = stack.pop()?;
        stack.last_mut()?.0.push((under, RegistryValue::Dictionary(entries)));
    }
    Some(RegistryValue::Dictionary(stack.pop()?.0))
}

/// A kernel port for a service (`IKOT_IOKIT_OBJECT`): it holds a reference on the service until
/// its last send right is released or the service is terminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectPort(u64);

impl ObjectPort {
    /// The port's number (unique for the life of the process; never reused).
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl TaskId {
    /// The task's number (unique for the life of the process).
    pub fn raw(self) -> u32 {
        self.0
    }
}

impl Connection {
    /// The connection's number (unique for the life of the process).
    pub fn raw(self) -> u64 {
        self.0
    }
}

impl Kernel {
    /// `is_io_service_get_matching_service` for `IOServiceMatching(class)` and the MIG outtran: one
    /// send right on the port of the first registered, active service of (or derived from) `class`;
    /// the same port for the same service. `kIOReturnNotFound` when none matches.
    pub fn object_port_matching_service(&self, class: &str) -> Result<ObjectPort, IOReturn> {
        let class = c(class);
        let mut port = 0u64;
        // SAFETY: a valid NUL-terminated string and out pointer for the call.
        match unsafe { ffi::xsim_object_port_matching_service(class.as_ptr(), &mut port) } {
            0 => Ok(ObjectPort(port)),
            code => Err(code),
        }
    }

    /// One send right on `port` goes (a task's last user reference, or the task's death); the
    /// last one drops the port's reference on its service. Nothing for a destroyed port.
    pub fn object_port_release_send(&self, port: ObjectPort) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_object_port_release_send(port.0) }
    }

    /// Whether `port` still exists: false once its service was terminated or its last send right
    /// went (a task holding it holds a dead name).
    pub fn object_port_alive(&self, port: ObjectPort) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_object_port_alive(port.0) }
    }

    /// Object ports that exist now.
    pub fn object_port_count(&self) -> u32 {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_object_port_count() }
    }

    /// The class of the port's service (`IOObjectGetClass`), if the port exists.
    pub fn object_port_class(&self, port: ObjectPort) -> Option<String> {
        let mut buffer = [0u8; 128];
        // SAFETY: the buffer is valid for its length; the model NUL-terminates within it.
        let alive = unsafe {
            ffi::xsim_object_port_class(port.0, buffer.as_mut_ptr() as *mut c_char, buffer.len())
        };
        alive.then(|| {
            let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
            String::from_utf8_lossy(&buffer[..end]).into_owned()
        })
    }

    /// `is_io_service_open_extended` on the port's service, as `task`: the open's code, or
    /// `MACH_SEND_INVALID_DEST` when the port no longer exists.
    pub fn object_port_open(
        &self,
        port: ObjectPort,
        task: TaskId,
        connect_type: u32,
    ) -> Result<Connection, IOReturn> {
        let mut connection = 0u64;
        // SAFETY: plain values and a valid out pointer.
        match unsafe { ffi::xsim_object_port_open(port.0, task.0, connect_type, &mut connection) } {
            0 => Ok(Connection(connection)),
            code => Err(code),
        }
    }

    /// `seteuid` in `task`: its credential now carries `euid` (read by `clientHasPrivilege` at
    /// the next open). False for a dead task.
    pub fn set_task_euid(&self, task: TaskId, euid: u32) -> bool {
        // SAFETY: plain values.
        unsafe { ffi::xsim_task_set_euid(task.0, euid) }
    }

    /// `mach_port_deallocate` of a connection's last send right without `IOServiceClose`:
    /// `clientDied` runs on this thread. False if the port was already destroyed.
    pub fn deallocate_connection(&self, connection: Connection) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_connection_deallocate(connection.0) }
    }

    /// `is_io_registry_entry_get_properties_bin_buf` on the port's service, and the user side of
    /// `IORegistryEntryCreateCFProperties`: the service's `serializeProperties`, rebuilt as a
    /// dictionary. `kIOReturnUnsupported` when the service's serialization fails,
    /// `MACH_SEND_INVALID_DEST` for a dead port.
    pub fn object_port_properties(&self, port: ObjectPort) -> Result<RegistryValue, IOReturn> {
        let mut buffer = vec![0u8; 4096];
        loop {
            let mut length = 0usize;
            // SAFETY: the buffer is valid for its length; the model writes within it.
            let code = unsafe {
                ffi::xsim_object_port_get_properties(
                    port.0,
                    buffer.as_mut_ptr() as *mut c_char,
                    buffer.len(),
                    &mut length,
                )
            };
            if code != 0 {
                return Err(code);
            }
            if length < buffer.len() {
                let text = String::from_utf8_lossy(&buffer[..length]);
                return parse_serialized(&text).ok_or(crate::codes::KIO_RETURN_ERROR);
            }
            buffer.resize(length + 1, 0);
        }
    }

    /// `IOServiceGetMatchingService(IOServiceMatching(class))`, `IORegistryEntryCreateCFProperties`,
    /// `IOObjectRelease`: the properties of the registered, active service of `class`.
    pub fn registry_properties(&self, class: &str) -> Result<RegistryValue, IOReturn> {
        let port = self.object_port_matching_service(class)?;
        let properties = self.object_port_properties(port);
        self.object_port_release_send(port);
        properties
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_serialized, RegistryValue};

    #[test]
    fn the_serialization_reads_back_nested_and_escaped() {
        let text = "0\ts\tIOClass\tS\n0\td\tG\t\n1\tn\tN\t64:18446744073709551615\n1\tb\tB\t1\n1\td\tH\t\n2\ts\tT\\tab\ta\\\\b\\nc\n0\tb\tLast\t0\n";
        let value = parse_serialized(text).unwrap();
        let s = |t: &str| RegistryValue::String(t.into());
        assert_eq!(
            value,
            RegistryValue::Dictionary(vec![
                ("IOClass".into(), s("S")),
                (
                    "G".into(),
                    RegistryValue::Dictionary(vec![
                        ("N".into(), RegistryValue::Number(u64::MAX)),
                        ("B".into(), RegistryValue::Bool(true)),
                        ("H".into(), RegistryValue::Dictionary(vec![("T\tab".into(), s("a\\b\nc"))])),
                    ])
                ),
                ("Last".into(), RegistryValue::Bool(false)),
            ])
        );
        assert_eq!(value.get("G").and_then(|g| g.get("N")), Some(&RegistryValue::Number(u64::MAX)));
        // A value deeper than the dictionary it would go in, or an unknown kind: not a serialization.
        assert_eq!(parse_serialized("1\tn\tN\t64:1\n"), None);
        assert_eq!(parse_serialized("0\tx\tN\t1\n"), None);
    }
}
