//! clang's `-Xclang -fdump-vtable-layouts` output: the vtable of each class whose vtable the
//! translation unit emits, slot by slot, as the compiler laid it out from the headers.
//!
//! ```text
//! Vtable for 'Derived' (7 entries).
//!    0 | offset_to_top (0)
//!    1 | Derived RTTI
//!        -- (Base, 0) vtable address --
//!    2 | Derived::~Derived() [complete]
//!    3 | Derived::~Derived() [deleting]
//!    4 | void Base::f(int) const
//!    5 | int *Base::g() [pure]
//!    6 | vcall_offset (0)
//! ```
//!
//! With `-fapple-kext` clang ends every vtable with a zero entry (printed as
//! `vcall_offset (0)`): the terminator kxld's `init_by_entries` (libkern/kxld/kxld_vtable.c)
//! walks to.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    OffsetToTop(i64),
    Rtti(String),
    Function(Function),
    VCallOffset(i64),
    VBaseOffset(i64),
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destructor {
    Complete,
    Deleting,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The line as printed, markers removed (`void Base::f(int) const`).
    pub text: String,
    /// `Base` of `Base::f`.
    pub class: String,
    /// `f` of `Base::f`; `~Base` for a destructor.
    pub method: String,
    pub pure: bool,
    pub destructor: Option<Destructor>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtableLayout {
    pub class: String,
    /// The count clang prints in the header line.
    pub declared: usize,
    pub entries: Vec<Entry>,
}

impl VtableLayout {
    /// The virtual-function slots (what follows the RTTI entry), in order, without the
    /// apple-kext terminator.
    pub fn functions(&self) -> Vec<&Function> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Function(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    /// The slots after the RTTI entry, each a function or not (for a slot-by-slot comparison).
    pub fn slots(&self) -> &[Entry] {
        let first = self.entries.iter().position(|e| matches!(e, Entry::Rtti(_))).map_or(0, |i| i + 1);
        let mut end = self.entries.len();
        if matches!(self.entries.last(), Some(Entry::VCallOffset(0))) {
            end -= 1;
        }
        self.entries.get(first..end).unwrap_or_default()
    }
}

fn number_in_parens(s: &str) -> Option<i64> {
    let inner = s.split_once('(')?.1.split_once(')')?.0;
    inner.trim().parse().ok()
}

/// `Qualified::name` of a printed signature: the text before the parameter list, after the
/// last space or `*`/`&` of the return type.
fn qualified_name(signature: &str) -> Option<(String, String)> {
    let before = signature.split_once('(')?.0.trim_end();
    let start = before.rfind([' ', '*', '&']).map_or(0, |i| i + 1);
    let qualified = before.get(start..)?;
    let (class, method) = qualified.rsplit_once("::")?;
    Some((class.to_string(), method.to_string()))
}

fn parse_entry(text: &str) -> Entry {
    if let Some(rest) = text.strip_prefix("offset_to_top") {
        return number_in_parens(rest).map_or_else(|| Entry::Other(text.into()), Entry::OffsetToTop);
    }
    if let Some(rest) = text.strip_prefix("vcall_offset") {
        return number_in_parens(rest).map_or_else(|| Entry::Other(text.into()), Entry::VCallOffset);
    }
    if let Some(rest) = text.strip_prefix("vbase_offset") {
        return number_in_parens(rest).map_or_else(|| Entry::Other(text.into()), Entry::VBaseOffset);
    }
    if let Some(class) = text.strip_suffix(" RTTI") {
        return Entry::Rtti(class.to_string());
    }
    let mut sig = text.to_string();
    let mut pure = false;
    let mut destructor = None;
    loop {
        let trimmed = sig.trim_end().to_string();
        if let Some(s) = trimmed.strip_suffix("[pure]") {
            pure = true;
            sig = s.trim_end().to_string();
        } else if let Some(s) = trimmed.strip_suffix("[complete]") {
            destructor = Some(Destructor::Complete);
            sig = s.trim_end().to_string();
        } else if let Some(s) = trimmed.strip_suffix("[deleting]") {
            destructor = Some(Destructor::Deleting);
            sig = s.trim_end().to_string();
        } else {
            sig = trimmed;
            break;
        }
    }
    match qualified_name(&sig) {
        Some((class, method)) => Entry::Function(Function { text: sig, class, method, pure, destructor }),
        None => Entry::Other(text.into()),
    }
}

/// Every `Vtable for '…'` block of a dump (other blocks, e.g. `VTable indices`, are skipped).
pub fn parse(dump: &str) -> Result<Vec<VtableLayout>, String> {
    let mut out: Vec<VtableLayout> = Vec::new();
    let mut current: Option<VtableLayout> = None;
    for (n, line) in dump.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("Vtable for '") {
            if let Some(done) = current.take() {
                out.push(done);
            }
            let (class, tail) = rest.split_once('\'').ok_or_else(|| format!("line {}: {line}", n + 1))?;
            let declared = tail
                .split_once('(')
                .and_then(|(_, t)| t.split_whitespace().next())
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| format!("line {}: no entry count in {line}", n + 1))?;
            current = Some(VtableLayout { class: class.to_string(), declared, entries: Vec::new() });
            continue;
        }
        let Some(layout) = current.as_mut() else { continue };
        let trimmed = line.trim();
        if trimmed.is_empty() || !trimmed.contains(" | ") && !line.trim_start().starts_with("--") {
            // A blank line or another block's header ends the vtable.
            if let Some(done) = current.take() {
                out.push(done);
            }
            continue;
        }
        if trimmed.starts_with("--") {
            continue; // "-- (Base, 0) vtable address --"
        }
        let (index, text) = trimmed.split_once(" | ").ok_or_else(|| format!("line {}: {line}", n + 1))?;
        let index: usize = index.trim().parse().map_err(|_| format!("line {}: bad index in {line}", n + 1))?;
        if index != layout.entries.len() {
            return Err(format!("line {}: entry {index} of '{}' out of order", n + 1, layout.class));
        }
        layout.entries.push(parse_entry(text.trim()));
    }
    if let Some(done) = current.take() {
        out.push(done);
    }
    for l in &out {
        if l.entries.len() != l.declared {
            return Err(format!("vtable of '{}': {} entries listed, {} declared", l.class, l.entries.len(), l.declared));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Printed by `clang++-19 -target x86_64-apple-macos10.15 -mkernel -fapple-kext -fno-rtti
    // -Xclang -fdump-vtable-layouts` for a hierarchy of our own:
    //   class Base { public: virtual ~Base(); virtual void f(int) const;
    //                virtual const Base *g() = 0; private: virtual void _RESERVEDBase0(); };
    //   class Derived : public Base { public: virtual ~Derived(); };
    const DUMP: &str = "Original map
 Derived::~Derived() -> Base::~Base()
Vtable for 'Derived' (8 entries).
   0 | offset_to_top (0)
   1 | Derived RTTI
       -- (Base, 0) vtable address --
       -- (Derived, 0) vtable address --
   2 | Derived::~Derived() [complete]
   3 | Derived::~Derived() [deleting]
   4 | void Base::f(int) const
   5 | const Base *Base::g() [pure]
   6 | void Base::_RESERVEDBase0()
   7 | vcall_offset (0)

VTable indices for 'Derived' (2 entries).
   0 | Derived::~Derived() [complete]
   1 | Derived::~Derived() [deleting]
";

    #[test]
    fn parses_a_vtable_block() {
        let layouts = parse(DUMP).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layouts.len(), 1);
        let d = &layouts[0];
        assert_eq!((d.class.as_str(), d.declared, d.entries.len()), ("Derived", 8, 8));
        assert_eq!(d.entries[0], Entry::OffsetToTop(0));
        assert_eq!(d.entries[1], Entry::Rtti("Derived".into()));
        let f = d.functions();
        assert_eq!(f.len(), 5);
        assert_eq!((f[0].class.as_str(), f[0].method.as_str()), ("Derived", "~Derived"));
        assert_eq!(f[0].destructor, Some(Destructor::Complete));
        assert_eq!(f[1].destructor, Some(Destructor::Deleting));
        assert_eq!((f[2].class.as_str(), f[2].method.as_str(), f[2].text.as_str()), ("Base", "f", "void Base::f(int) const"));
        assert!(f[3].pure);
        assert_eq!((f[3].class.as_str(), f[3].method.as_str()), ("Base", "g"));
        assert_eq!(f[4].method, "_RESERVEDBase0");
        assert_eq!(d.slots().len(), 5, "RTTI and the apple-kext terminator are not slots");
        assert_eq!(d.entries[7], Entry::VCallOffset(0));
    }

    #[test]
    fn refuses_inconsistent_counts() {
        let broken = DUMP.replace("(8 entries)", "(9 entries)");
        assert!(parse(&broken).is_err());
        let reordered = DUMP.replace("   4 | void Base::f", "   5 | void Base::f");
        assert!(parse(&reordered).is_err());
    }

    #[test]
    fn names_from_signatures() {
        assert_eq!(qualified_name("const OSThing *A::b(int) const"), Some(("A".into(), "b".into())));
        assert_eq!(qualified_name("A::~A()"), Some(("A".into(), "~A".into())));
        assert_eq!(qualified_name("unsigned long N::A::c(int &)"), Some(("N::A".into(), "c".into())));
        assert_eq!(qualified_name("no_class()"), None);
    }
}
