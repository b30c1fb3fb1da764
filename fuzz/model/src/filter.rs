//! The path filter as documented: a byte prefix, set from `SetPathFilter`'s struct, matched byte
//! for byte against each path an event carries.

use crate::spec;

/// What the filter says about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No filter is set (empty prefix).
    NoFilter,
    /// A path starts with the prefix.
    Match,
    /// No path does.
    NoMatch,
}

/// `SetPathFilter`'s input rule: exactly 1024 bytes, a NUL among them, UTF-8 before the first
/// NUL; the prefix is what precedes it (empty clears the filter).
pub fn prefix_from_struct(input: &[u8]) -> Option<&[u8]> {
    if input.len() != spec::FILTER_STRUCT_SIZE {
        return None;
    }
    let end = input.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&input[..end]).ok()?;
    Some(&input[..end])
}

/// Whether a prefix can be set at all: at most 1023 bytes, no NUL.
pub fn settable(prefix: &[u8]) -> bool {
    prefix.len() <= spec::MAX_PREFIX && !prefix.contains(&0)
}

/// The verdict of `prefix` for an event with these paths (None = NULL, never a match).
pub fn verdict(prefix: &[u8], paths: &[Option<&[u8]>]) -> Verdict {
    if prefix.is_empty() {
        Verdict::NoFilter
    } else if paths
        .iter()
        .any(|p| p.is_some_and(|p| p.starts_with(prefix)))
    {
        Verdict::Match
    } else {
        Verdict::NoMatch
    }
}
