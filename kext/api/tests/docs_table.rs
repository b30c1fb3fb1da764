//! docs/user-client-api.md's method table says what the interface says: its generated columns
//! (selector, name, inputs, outputs, who) are rendered here from `<dyn Monitor>::TABLE` and must
//! equal the document's, row for row; only the last column ("what it does") is prose.

use rustkext_abi::{Entry, Interface, Privilege, DESCRIBE, DESCRIBE_SHAPE};
use rustkext_monitor_api::Monitor;

const DOC: &str = include_str!("../../../docs/user-client-api.md");

fn count(n: u32, what: &str) -> Option<String> {
    match n {
        0 => None,
        1 => Some(format!("1 {what}")),
        n => Some(format!("{n} {what}s")),
    }
}

/// "—", "1 scalar", "3 scalars", "struct, 104 bytes", or scalars and a struct.
fn side(scalars: u32, bytes: u32) -> String {
    let parts: Vec<String> = [count(scalars, "scalar"), (bytes > 0).then(|| format!("struct, {bytes} bytes"))]
        .into_iter()
        .flatten()
        .collect();
    if parts.is_empty() {
        "—".to_string()
    } else {
        parts.join(" + ")
    }
}

fn who(privilege: Privilege) -> &'static str {
    match privilege {
        Privilege::Anyone => "any",
        Privilege::Observer => "observer",
        Privilege::Admin => "administrator",
    }
}

fn row(selector: String, entry: &Entry) -> Vec<String> {
    let s = entry.shape;
    vec![
        selector,
        format!("`{}`", entry.name),
        side(s.scalar_input_count, s.struct_input_size),
        side(s.scalar_output_count, s.struct_output_size),
        who(entry.privilege).to_string(),
    ]
}

fn expected_rows() -> Vec<Vec<String>> {
    let table = <dyn Monitor as Interface>::TABLE;
    let mut rows: Vec<Vec<String>> = table.iter().enumerate().map(|(i, e)| row(i.to_string(), e)).collect();
    let describe = Entry { name: "Describe", shape: DESCRIBE_SHAPE, privilege: Privilege::Anyone, query: true };
    rows.push(row(format!("{DESCRIBE:#X}").replace("0X", "0x"), &describe));
    rows
}

/// The rows of the first table whose header starts with `| sel | name | in | out | who |`: the
/// first five cells of each.
fn document_rows(doc: &str) -> Vec<Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with("| sel | name | in | out | who |"));
    assert!(lines.next().is_some(), "docs/user-client-api.md has no method table");
    lines
        .skip(1) // |---|
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('|').skip(1).take(5).map(|c| c.trim().to_string()).collect())
        .collect()
}

#[test]
fn the_documented_methods_are_the_interfaces() {
    assert_eq!(document_rows(DOC), expected_rows(), "update docs/user-client-api.md's method table");
}

#[test]
fn a_wrong_row_is_noticed() {
    // The comparison can fail: a document with one size changed does not match.
    let broken = DOC.replacen("struct, 104 bytes", "struct, 96 bytes", 1);
    assert_ne!(broken, DOC, "the table names the Stats size");
    assert_ne!(document_rows(&broken), expected_rows());
}
