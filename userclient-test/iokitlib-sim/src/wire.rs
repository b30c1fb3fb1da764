//! The protocol between a process using the stand-in and the kernel server, over a Unix stream
//! socket. Each message is one frame: a little-endian `u32` length, then that many bytes: a `u16`
//! operation, then its fields (integers little-endian; byte strings and text as a `u32` length
//! and the bytes; an optional value as a `u8` presence flag and the value).
//!
//! A process is one simulated task. Its first socket says `TaskHello` and stays open for the
//! life of the process: its end of file is the process's death. Every thread then talks on a
//! socket of its own that says `ThreadHello` first, so calls from different threads run in the
//! kernel concurrently, as they do on macOS. The kext tools say nothing first: they are not
//! tasks of the model.

use std::io::{self, Read, Write};

/// The largest frame either side accepts (an out-of-line struct can be large; 64 MiB is far
/// above anything the harness sends).
pub const MAX_FRAME: usize = 64 << 20;

/// A request, by operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// First message of a process's task socket.
    TaskHello { pid: u32, euid: u32, name: String },
    /// First message of a thread's socket: the task it acts for.
    ThreadHello { task: u64 },
    /// `io_service_get_matching_service_bin` with `IOServiceMatching(class)`.
    GetMatchingService { class: String },
    /// `io_service_open_extended`; `euid` is the caller's effective uid at the call.
    ServiceOpen {
        service: u32,
        owning_task: u32,
        connect_type: u32,
        euid: u32,
    },
    /// `io_service_close`.
    ServiceClose { connection: u32 },
    /// `mach_port_deallocate(mach_task_self(), name)`.
    PortDeallocate { name: u32 },
    /// `io_connect_method`.
    ConnectMethod(MethodRequest),
    /// A FILEOP event posted by a file operation of this process (the BSD side).
    Fileop { action: i32, args: [FileopArg; 4] },
    /// A kext tool (`kmutil`, `kextunload`, `kextstat`) run by a process with `euid`.
    KextTool { argv: Vec<String>, euid: u32 },
    /// `io_registry_entry_set_properties` with a dictionary of these keys (`None`: not a
    /// dictionary); `euid` is the caller's effective uid at the call.
    SetProperties {
        entry: u32,
        keys: Option<Vec<String>>,
        euid: u32,
    },
    /// Returns once the kernel's clock has advanced by `ns`.
    SleepKernelTime { ns: u64 },
    /// `io_registry_entry_get_properties_bin`.
    GetProperties { entry: u32 },
    /// The simulated machine's state, for tests.
    Status,
}

/// A property value as the kernel serialized it (string, number, boolean, dictionary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(String),
    Number(u64),
    Bool(bool),
    Dictionary(Vec<(String, Value)>),
}

impl Value {
    fn write(&self, w: &mut Writer) {
        match self {
            Value::String(s) => {
                w.u8(0).str(s);
            }
            Value::Number(n) => {
                w.u8(1).u64(*n);
            }
            Value::Bool(b) => {
                w.u8(2).u8(u8::from(*b));
            }
            Value::Dictionary(entries) => {
                w.u8(3).u32(len32(entries.len()));
                for (k, v) in entries {
                    w.str(k);
                    v.write(w);
                }
            }
        }
    }

    fn read(r: &mut Reader<'_>, depth: u32) -> Result<Value, Malformed> {
        if depth > 32 {
            return Err(Malformed("properties nested more than 32 deep".into()));
        }
        Ok(match r.u8()? {
            0 => Value::String(r.string()?),
            1 => Value::Number(r.u64()?),
            2 => Value::Bool(r.bool()?),
            3 => {
                let n = r.u32()? as usize;
                if n > r.buf.len() {
                    return Err(Malformed(format!("{n} properties announced")));
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push((r.string()?, Value::read(r, depth + 1)?));
                }
                Value::Dictionary(entries)
            }
            kind => return Err(Malformed(format!("unknown property kind {kind}"))),
        })
    }
}

/// `io_connect_method`'s request, as the MIG user stub sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodRequest {
    pub connection: u32,
    pub selector: u32,
    pub scalar_input: Vec<u64>,
    pub inband_input: Vec<u8>,
    /// `ool_input` (an address in the caller) is not 0: the bytes it covers.
    pub ool_input: Option<Vec<u8>>,
    /// `inband_outputCnt`, as the stub clamps it (at most 4096).
    pub inband_output_count: u32,
    /// `scalar_outputCnt`, as the stub clamps it (at most 16).
    pub scalar_output_count: u32,
    /// `ool_output` (an address in the caller) is not 0.
    pub ool_output: bool,
    /// `*ool_output_size` (in-out).
    pub ool_output_size: u64,
}

/// A FILEOP argument: a path (a C string during the call) or a plain value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileopArg {
    Path(String),
    Value(u64),
}

/// A reply, by the request it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Task {
        task: u64,
    },
    Done,
    /// `kr` of the MIG routine; `name` the service's name in the task (0 unless `kr` is 0).
    Service {
        kr: i32,
        name: u32,
    },
    /// `kr` of the MIG routine (or the send), `result` and `connection` its out parameters,
    /// meaningful only when `kr` is 0.
    Open {
        kr: i32,
        result: i32,
        connection: u32,
    },
    Code {
        kr: i32,
    },
    Method(MethodReply),
    Fileop {
        listeners: u32,
    },
    Tool {
        status: i32,
        stdout: String,
        stderr: String,
    },
    Status(Status),
    /// `kr` of `io_registry_entry_get_properties_bin`, and the properties when it is 0 (a
    /// dictionary).
    Properties { kr: i32, properties: Option<Value> },
    /// The server could not serve the request (protocol misuse); the text says why.
    Refused {
        why: String,
    },
}

/// `io_connect_method`'s answer: `kr` is the send's or the routine's; the outputs travel only
/// in a successful reply (a MIG error reply carries none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodReply {
    pub kr: i32,
    pub outputs: Option<MethodOutputs>,
}

/// The out parameters of a successful `io_connect_method` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodOutputs {
    pub inband_output: Vec<u8>,
    pub scalar_output: Vec<u64>,
    pub ool_output_size: u64,
    /// What the kernel wrote through the out-of-line output descriptor.
    pub ool_output: Vec<u8>,
}

/// The simulated machine, for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub kext_loaded: bool,
    pub service_instances: u32,
    pub user_client_instances: u32,
    pub object_ports: u32,
    pub tasks: u32,
    /// Kernel rules the code under test broke (xnu-sim's violations), as text.
    pub violations: Vec<String>,
}

/// A malformed message.
#[derive(Debug)]
pub struct Malformed(pub String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed message: {}", self.0)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn new(op: u16) -> Writer {
        Writer(op.to_le_bytes().to_vec())
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(len32(v.len()));
        self.0.extend_from_slice(v);
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    fn u64s(&mut self, v: &[u64]) -> &mut Self {
        self.u32(len32(v.len()));
        for x in v {
            self.u64(*x);
        }
        self
    }
    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

fn len32(n: usize) -> u32 {
    // Frames are bounded by MAX_FRAME, far below u32::MAX.
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed(format!(
                "{n} bytes wanted, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn bool(&mut self) -> Result<bool, Malformed> {
        Ok(self.u8()? != 0)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?).map_err(|e| Malformed(format!("text: {e}")))
    }
    fn u64s(&mut self) -> Result<Vec<u64>, Malformed> {
        let n = self.u32()? as usize;
        if n > self.buf.len() / 8 {
            return Err(Malformed(format!("{n} scalars announced")));
        }
        (0..n).map(|_| self.u64()).collect()
    }
    fn end(&self) -> Result<(), Malformed> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Malformed(format!("{} bytes left over", self.buf.len())))
        }
    }
}

impl FileopArg {
    fn write(&self, w: &mut Writer) {
        match self {
            FileopArg::Path(p) => {
                w.u8(1).str(p);
            }
            FileopArg::Value(v) => {
                w.u8(0).u64(*v);
            }
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<FileopArg, Malformed> {
        Ok(match r.u8()? {
            1 => FileopArg::Path(r.string()?),
            _ => FileopArg::Value(r.u64()?),
        })
    }
}

impl Request {
    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::TaskHello { pid, euid, name } => {
                Writer::new(1).u32(*pid).u32(*euid).str(name).done()
            }
            Request::ThreadHello { task } => Writer::new(2).u64(*task).done(),
            Request::GetMatchingService { class } => Writer::new(10).str(class).done(),
            Request::ServiceOpen {
                service,
                owning_task,
                connect_type,
                euid,
            } => Writer::new(11)
                .u32(*service)
                .u32(*owning_task)
                .u32(*connect_type)
                .u32(*euid)
                .done(),
            Request::ServiceClose { connection } => Writer::new(12).u32(*connection).done(),
            Request::PortDeallocate { name } => Writer::new(13).u32(*name).done(),
            Request::ConnectMethod(m) => {
                let mut w = Writer::new(14);
                w.u32(m.connection)
                    .u32(m.selector)
                    .u64s(&m.scalar_input)
                    .bytes(&m.inband_input);
                match &m.ool_input {
                    Some(b) => w.u8(1).bytes(b),
                    None => w.u8(0),
                };
                w.u32(m.inband_output_count)
                    .u32(m.scalar_output_count)
                    .u8(u8::from(m.ool_output))
                    .u64(m.ool_output_size);
                w.done()
            }
            Request::Fileop { action, args } => {
                let mut w = Writer::new(20);
                w.i32(*action);
                for a in args {
                    a.write(&mut w);
                }
                w.done()
            }
            Request::KextTool { argv, euid } => {
                let mut w = Writer::new(30);
                w.u32(*euid).u32(len32(argv.len()));
                for a in argv {
                    w.str(a);
                }
                w.done()
            }
            Request::SetProperties { entry, keys, euid } => {
                let mut w = Writer::new(15);
                w.u32(*entry).u32(*euid);
                match keys {
                    Some(keys) => {
                        w.u8(1).u32(len32(keys.len()));
                        for k in keys {
                            w.str(k);
                        }
                    }
                    None => {
                        w.u8(0);
                    }
                }
                w.done()
            }
            Request::SleepKernelTime { ns } => Writer::new(16).u64(*ns).done(),
            Request::GetProperties { entry } => Writer::new(17).u32(*entry).done(),
            Request::Status => Writer::new(40).done(),
        }
    }

    /// Parses a frame body.
    pub fn decode(body: &[u8]) -> Result<Request, Malformed> {
        let mut r = Reader { buf: body };
        let request = match r.u16()? {
            1 => Request::TaskHello {
                pid: r.u32()?,
                euid: r.u32()?,
                name: r.string()?,
            },
            2 => Request::ThreadHello { task: r.u64()? },
            10 => Request::GetMatchingService { class: r.string()? },
            11 => Request::ServiceOpen {
                service: r.u32()?,
                owning_task: r.u32()?,
                connect_type: r.u32()?,
                euid: r.u32()?,
            },
            12 => Request::ServiceClose {
                connection: r.u32()?,
            },
            13 => Request::PortDeallocate { name: r.u32()? },
            14 => {
                let connection = r.u32()?;
                let selector = r.u32()?;
                let scalar_input = r.u64s()?;
                let inband_input = r.bytes()?;
                let ool_input = if r.bool()? { Some(r.bytes()?) } else { None };
                let inband_output_count = r.u32()?;
                let scalar_output_count = r.u32()?;
                let ool_output = r.bool()?;
                let ool_output_size = r.u64()?;
                Request::ConnectMethod(MethodRequest {
                    connection,
                    selector,
                    scalar_input,
                    inband_input,
                    ool_input,
                    inband_output_count,
                    scalar_output_count,
                    ool_output,
                    ool_output_size,
                })
            }
            20 => {
                let action = r.i32()?;
                let args = [
                    FileopArg::read(&mut r)?,
                    FileopArg::read(&mut r)?,
                    FileopArg::read(&mut r)?,
                    FileopArg::read(&mut r)?,
                ];
                Request::Fileop { action, args }
            }
            30 => {
                let euid = r.u32()?;
                let n = r.u32()? as usize;
                if n > body.len() {
                    return Err(Malformed(format!("{n} arguments announced")));
                }
                let argv = (0..n).map(|_| r.string()).collect::<Result<_, _>>()?;
                Request::KextTool { argv, euid }
            }
            15 => {
                let entry = r.u32()?;
                let euid = r.u32()?;
                let keys = if r.bool()? {
                    let n = r.u32()? as usize;
                    if n > body.len() {
                        return Err(Malformed(format!("{n} keys announced")));
                    }
                    Some((0..n).map(|_| r.string()).collect::<Result<_, _>>()?)
                } else {
                    None
                };
                Request::SetProperties { entry, keys, euid }
            }
            16 => Request::SleepKernelTime { ns: r.u64()? },
            17 => Request::GetProperties { entry: r.u32()? },
            40 => Request::Status,
            op => return Err(Malformed(format!("unknown request {op}"))),
        };
        r.end()?;
        Ok(request)
    }
}

impl Reply {
    /// The frame body.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Task { task } => Writer::new(1).u64(*task).done(),
            Reply::Done => Writer::new(2).done(),
            Reply::Service { kr, name } => Writer::new(10).i32(*kr).u32(*name).done(),
            Reply::Open {
                kr,
                result,
                connection,
            } => Writer::new(11)
                .i32(*kr)
                .i32(*result)
                .u32(*connection)
                .done(),
            Reply::Code { kr } => Writer::new(12).i32(*kr).done(),
            Reply::Method(m) => {
                let mut w = Writer::new(14);
                w.i32(m.kr);
                match &m.outputs {
                    Some(o) => w
                        .u8(1)
                        .bytes(&o.inband_output)
                        .u64s(&o.scalar_output)
                        .u64(o.ool_output_size)
                        .bytes(&o.ool_output),
                    None => w.u8(0),
                };
                w.done()
            }
            Reply::Fileop { listeners } => Writer::new(20).u32(*listeners).done(),
            Reply::Tool {
                status,
                stdout,
                stderr,
            } => Writer::new(30).i32(*status).str(stdout).str(stderr).done(),
            Reply::Status(s) => {
                let mut w = Writer::new(40);
                w.u8(u8::from(s.kext_loaded))
                    .u32(s.service_instances)
                    .u32(s.user_client_instances)
                    .u32(s.object_ports)
                    .u32(s.tasks)
                    .u32(len32(s.violations.len()));
                for v in &s.violations {
                    w.str(v);
                }
                w.done()
            }
            Reply::Properties { kr, properties } => {
                let mut w = Writer::new(17);
                w.i32(*kr);
                match properties {
                    Some(v) => {
                        w.u8(1);
                        v.write(&mut w);
                    }
                    None => {
                        w.u8(0);
                    }
                }
                w.done()
            }
            Reply::Refused { why } => Writer::new(99).str(why).done(),
        }
    }

    /// Parses a frame body.
    pub fn decode(body: &[u8]) -> Result<Reply, Malformed> {
        let mut r = Reader { buf: body };
        let reply = match r.u16()? {
            1 => Reply::Task { task: r.u64()? },
            2 => Reply::Done,
            10 => Reply::Service {
                kr: r.i32()?,
                name: r.u32()?,
            },
            11 => Reply::Open {
                kr: r.i32()?,
                result: r.i32()?,
                connection: r.u32()?,
            },
            12 => Reply::Code { kr: r.i32()? },
            14 => {
                let kr = r.i32()?;
                let outputs = if r.bool()? {
                    Some(MethodOutputs {
                        inband_output: r.bytes()?,
                        scalar_output: r.u64s()?,
                        ool_output_size: r.u64()?,
                        ool_output: r.bytes()?,
                    })
                } else {
                    None
                };
                Reply::Method(MethodReply { kr, outputs })
            }
            20 => Reply::Fileop {
                listeners: r.u32()?,
            },
            30 => Reply::Tool {
                status: r.i32()?,
                stdout: r.string()?,
                stderr: r.string()?,
            },
            40 => Reply::Status(Status {
                kext_loaded: r.bool()?,
                service_instances: r.u32()?,
                user_client_instances: r.u32()?,
                object_ports: r.u32()?,
                tasks: r.u32()?,
                violations: {
                    let n = r.u32()? as usize;
                    if n > body.len() {
                        return Err(Malformed(format!("{n} violations announced")));
                    }
                    (0..n).map(|_| r.string()).collect::<Result<_, _>>()?
                },
            }),
            17 => Reply::Properties {
                kr: r.i32()?,
                properties: if r.bool()? { Some(Value::read(&mut r, 0)?) } else { None },
            },
            99 => Reply::Refused { why: r.string()? },
            op => return Err(Malformed(format!("unknown reply {op}"))),
        };
        r.end()?;
        Ok(reply)
    }
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes", body.len()),
        ));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len32(body.len()).to_le_bytes());
    frame.extend_from_slice(body);
    w.write_all(&frame)
}

/// Reads one frame; `None` at a clean end of file (before a frame started).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes announced"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_and_reply_round_trips() {
        let requests = [
            Request::TaskHello {
                pid: 7,
                euid: 0,
                name: "t".into(),
            },
            Request::ThreadHello { task: 3 },
            Request::GetMatchingService {
                class: "org_rustkext_Service".into(),
            },
            Request::ServiceOpen {
                service: 0x1003,
                owning_task: 0x203,
                connect_type: 1,
                euid: 65534,
            },
            Request::ServiceClose { connection: 5 },
            Request::PortDeallocate { name: 6 },
            Request::ConnectMethod(MethodRequest {
                connection: 0x1103,
                selector: 2,
                scalar_input: vec![1, u64::MAX],
                inband_input: vec![1, 2, 3],
                ool_input: Some(vec![9; 5000]),
                inband_output_count: 104,
                scalar_output_count: 16,
                ool_output: true,
                ool_output_size: 8192,
            }),
            Request::Fileop {
                action: 1,
                args: [
                    FileopArg::Value(0),
                    FileopArg::Path("/tmp/a".into()),
                    FileopArg::Value(2),
                    FileopArg::Value(u64::MAX),
                ],
            },
            Request::KextTool {
                argv: vec!["kmutil".into(), "unload".into()],
                euid: 0,
            },
            Request::SetProperties {
                entry: 0x1003,
                keys: Some(vec!["a".into(), "b".into()]),
                euid: 0,
            },
            Request::SetProperties {
                entry: 0x1003,
                keys: None,
                euid: 501,
            },
            Request::SleepKernelTime { ns: 10 },
            Request::GetProperties { entry: 0x1003 },
            Request::Status,
        ];
        for r in requests {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        let replies = [
            Reply::Task { task: 1 },
            Reply::Done,
            Reply::Properties { kr: -536870201, properties: None },
            Reply::Properties {
                kr: 0,
                properties: Some(Value::Dictionary(vec![
                    ("IOClass".into(), Value::String("c".into())),
                    ("G".into(), Value::Dictionary(vec![("N".into(), Value::Number(u64::MAX)), ("B".into(), Value::Bool(true))])),
                ])),
            },
            Reply::Service { kr: -1, name: 2 },
            Reply::Open {
                kr: 0,
                result: -536870206,
                connection: 0,
            },
            Reply::Code { kr: 268435459 },
            Reply::Method(MethodReply {
                kr: 0,
                outputs: Some(MethodOutputs {
                    inband_output: vec![1; 104],
                    scalar_output: vec![3, 4],
                    ool_output_size: 0,
                    ool_output: vec![],
                }),
            }),
            Reply::Method(MethodReply {
                kr: -536870206,
                outputs: None,
            }),
            Reply::Fileop { listeners: 1 },
            Reply::Tool {
                status: 71,
                stdout: String::new(),
                stderr: "x".into(),
            },
            Reply::Status(Status {
                kext_loaded: true,
                service_instances: 1,
                user_client_instances: 2,
                object_ports: 3,
                tasks: 4,
                violations: vec!["SleepInGate: x".into()],
            }),
            Reply::Refused { why: "no".into() },
        ];
        for r in replies {
            assert_eq!(Reply::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn truncated_and_padded_bodies_are_refused() {
        let body = Request::ServiceClose { connection: 5 }.encode();
        assert!(Request::decode(&body[..body.len() - 1]).is_err());
        let mut longer = body.clone();
        longer.push(0);
        assert!(Request::decode(&longer).is_err());
        assert!(Request::decode(&[0xff, 0xff]).is_err());
        // A huge announced scalar count is refused before allocating.
        let mut w = Writer::new(14);
        w.u32(1).u32(2).u32(u32::MAX);
        assert!(Request::decode(&w.done()).is_err());
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"abc").unwrap();
        write_frame(&mut buf, b"").unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"abc");
        assert_eq!(read_frame(&mut r).unwrap().unwrap(), b"");
        assert!(read_frame(&mut r).unwrap().is_none());
        let mut torn = &buf[..2];
        assert!(read_frame(&mut torn).is_err());
    }
}
