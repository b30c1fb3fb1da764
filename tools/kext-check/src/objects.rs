//! The `objects` check: the Rust kernel library (or any set of objects) for one architecture.
//!
//! The archive is resolved the way the linker resolves it: the crate's own objects are always
//! linked; a standard-library object (core, compiler_builtins) is linked only when something
//! linked refers to a symbol it defines, and then all of it lands in the kext (its symbols are
//! global, so dead-stripping keeps them). So the panic/fmt rule applies to every linked object.

use std::collections::{BTreeMap, HashMap};

use object::macho::MH_OBJECT;

use crate::allowed::rust_may_import;
use crate::arch::Arch;
use crate::code::code_ranges;
use crate::macho::Member;
use crate::{arm64, demangle, is_panic_or_fmt, x86, Finding};

/// Crates that build-std puts into the staticlib next to the project's own objects.
const STD_CRATES: &[&str] = &["core", "compiler_builtins", "alloc", "rustc_std_workspace_core"];

pub struct ObjectsReport {
    pub findings: Vec<Finding>,
    /// Indices of the members the link would take, with why each was taken.
    pub linked: Vec<(usize, String)>,
}

pub fn check_objects(members: &[Member], arch: Arch) -> ObjectsReport {
    let mut findings = Vec::new();
    for member in members {
        check_header(member, arch, &mut findings);
        check_float(member, &mut findings);
    }
    let linked = resolve(members);
    for (index, why) in &linked {
        let member = &members[*index];
        let symbols: Vec<String> =
            member.symbols.iter().filter(|s| is_panic_or_fmt(&s.name)).map(|s| demangle(&s.name)).collect();
        if !symbols.is_empty() {
            findings.push(Finding::PanicOrFmt {
                member: member.name.clone(),
                symbols: dedup(symbols),
                pulled_by: why.clone(),
            });
        }
    }
    for (symbol, referenced_by) in unresolved(members, &linked) {
        if !rust_may_import(&symbol) {
            findings.push(Finding::UndefinedNotAllowed { symbol, referenced_by });
        }
    }
    ObjectsReport { findings, linked }
}

fn check_header(member: &Member, arch: Arch, findings: &mut Vec<Finding>) {
    if member.file_type != MH_OBJECT {
        findings.push(Finding::NotObject { member: member.name.clone(), file_type: member.file_type });
    }
    if member.cpu_type != arch.cpu_type() || member.cpu_subtype != arch.cpu_subtype() {
        findings.push(Finding::WrongCpu {
            member: member.name.clone(),
            cpu_type: member.cpu_type,
            cpu_subtype: member.cpu_subtype,
            expected: arch,
        });
    }
    if member.min_os != Some(arch.min_os()) {
        findings.push(Finding::WrongMinOs {
            member: member.name.clone(),
            found: member.min_os,
            expected: arch.min_os(),
        });
    }
}

/// Decodes the code as the architecture the object claims to be (a wrong cpu type is its own
/// finding), and reports the first floating-point use per symbol.
pub fn check_float(member: &Member, findings: &mut Vec<Finding>) {
    let decode_as = match member.cpu_type {
        crate::arch::CPU_TYPE_X86_64 => Arch::X86_64,
        crate::arch::CPU_TYPE_ARM64 => Arch::Arm64e,
        _ => return, // not decodable; the cpu type check reports it
    };
    for range in code_ranges(member) {
        let hit = match decode_as {
            Arch::X86_64 => x86::first_float_use(&range),
            Arch::Arm64e => arm64::first_float_use(&range),
        };
        if let Some((address, what)) = hit {
            findings.push(Finding::FloatUse {
                member: member.name.clone(),
                symbol: range.symbol.clone(),
                address,
                what,
            });
        }
    }
}

/// The crate an archive member was compiled from (`core-1a2b.core.3c4d-cgu.0.rcgu.o` -> `core`).
fn crate_of(member: &Member) -> &str {
    let file = member.name.rsplit('(').next().unwrap_or(&member.name).trim_end_matches(')');
    file.split(['-', '.']).next().unwrap_or(file)
}

/// Archive resolution: the project's objects, then every std object that defines a symbol a
/// linked object needs, until nothing changes.
fn resolve(members: &[Member]) -> Vec<(usize, String)> {
    let mut definer: HashMap<&str, usize> = HashMap::new();
    for (index, member) in members.iter().enumerate() {
        for name in member.defined_names() {
            definer.entry(name).or_insert(index);
        }
    }
    let mut linked: Vec<(usize, String)> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| !STD_CRATES.contains(&crate_of(m)))
        .map(|(i, _)| (i, "the project's own object".to_string()))
        .collect();
    let mut next = 0;
    while next < linked.len() {
        let from = linked[next].0;
        for name in members[from].undefined_names() {
            if let Some(&to) = definer.get(name) {
                if !linked.iter().any(|(i, _)| *i == to) {
                    let why = format!("linked because {} needs {}", crate_of(&members[from]), demangle(name));
                    linked.push((to, why));
                }
            }
        }
        next += 1;
    }
    linked
}

/// Undefined symbols no linked object defines, with one object that refers to each.
fn unresolved(members: &[Member], linked: &[(usize, String)]) -> BTreeMap<String, String> {
    let defined: std::collections::HashSet<&str> =
        linked.iter().flat_map(|(i, _)| members[*i].defined_names()).collect();
    let mut out = BTreeMap::new();
    for (index, _) in linked {
        for name in members[*index].undefined_names() {
            if !defined.contains(name) {
                out.entry(name.to_string()).or_insert_with(|| members[*index].name.clone());
            }
        }
    }
    out
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
