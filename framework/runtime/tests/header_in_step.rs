//! Keeps `shim-cpp/rustkext.h` and the Rust side of the C ABI in step: the functions `export!`
//! exports (the body of `__c_abi!` in `src/export.rs`, between its markers), the `repr(C)` types
//! of `src/c_abi.rs` and the `Shape` of `rustkext-abi`. Every function (name, parameter types,
//! return type), every struct (field order, names, types) and every enum value must agree, after
//! mapping C types to their Rust equivalents; every C declaration's `RK_SYMBOL(x)` names its own
//! function, as every Rust function's `export_name` does; and no parameter on either side is a
//! function pointer (no Rust function pointer ever reaches the kernel).

use std::collections::BTreeMap;

const HEADER: &str = include_str!("../../../shim-cpp/rustkext.h");
const EXPORT_RS: &str = include_str!("../src/export.rs");
const C_ABI_RS: &str = include_str!("../src/c_abi.rs");
const TABLE_RS: &str = include_str!("../../abi/src/table.rs");
const PUBLISHED_RS: &str = include_str!("../src/published.rs");

// `rk_ioreturn` is `int32_t` in C; make sure the Rust `IOReturn` is `i32` (fails to compile if not).
const _: fn(rustkext::abi::IOReturn) -> i32 = |code| code;

/// C typedef name → Rust type name.
const TYPE_NAMES: &[(&str, &str)] = &[
    ("rk_ioreturn", "IOReturn"),
    ("rk_driver", "RkDriver"),
    ("rk_property", "RkProperty"),
    ("rk_property_kind", "RkPropertyKind"),
    ("rk_terminate_answer", "RkTerminateAnswer"),
    ("rk_close_action", "RkCloseAction"),
    ("rk_method_shape", "Shape"),
    ("rk_method_args", "RkMethodArgs"),
    ("rk_registry_kind", "RkRegistryKind"),
    ("rk_registry_value", "RkRegistryValue"),
];

/// The exported functions: the body of `__c_abi!` between its markers, `$crate` as `crate`.
fn exported_functions(export_rs: &str) -> Result<String, String> {
    let begin = export_rs.find("// ---- C ABI begin").ok_or("no `// ---- C ABI begin` marker in export.rs")?;
    let end = export_rs.find("// ---- C ABI end").ok_or("no `// ---- C ABI end` marker in export.rs")?;
    Ok(export_rs[begin..end].replace("$crate", "crate").replace("$fileop", "fileop"))
}

/// C scalar type → Rust type.
const SCALARS: &[(&str, &str)] = &[
    ("uint32_t", "u32"),
    ("int32_t", "i32"),
    ("uint64_t", "u64"),
    ("uintptr_t", "usize"),
    ("bool", "bool"),
    ("char", "c_char"),
    ("void", "c_void"),
];

#[derive(Debug, Default)]
struct Api {
    /// name → (parameter types, return type), types in Rust spelling.
    functions: BTreeMap<String, (Vec<String>, String)>,
    /// Functions the other side provides (C: `rk_shim_*`; Rust: `extern "C"` block).
    imports: BTreeMap<String, (Vec<String>, String)>,
    /// Rust struct name → fields (name, type).
    structs: BTreeMap<String, Vec<(String, String)>>,
    /// Rust enum name → variants (name, value).
    enums: BTreeMap<String, Vec<(String, i64)>>,
}

// ---------------------------------------------------------------- the C header

/// The header without comments, preprocessor lines and `#ifdef __cplusplus` blocks.
fn c_declarations(header: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start + 2..]
            .split_once("*/")
            .map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    let mut code = String::new();
    let mut skipping = 0usize;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.starts_with("#ifdef __cplusplus") {
            skipping += 1;
        } else if line.starts_with("#endif") && skipping > 0 {
            skipping -= 1;
        } else if skipping == 0 && !line.starts_with('#') {
            code.push_str(line);
            code.push(' ');
        }
    }
    let mut declarations = Vec::new();
    let (mut depth, mut current) = (0i32, String::new());
    for ch in code.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if ch == ';' && depth == 0 {
            declarations.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
            current.clear();
        } else {
            current.push(ch);
        }
    }
    declarations.into_iter().filter(|d| !d.is_empty()).collect()
}

/// `const uint64_t *scalar_input` → ("*const u64", "scalar_input"). Unknown types map to
/// `?name` so that they can only mismatch.
fn c_typed_name(decl: &str) -> (String, String) {
    let spaced = decl.replace('*', " * ");
    let mut tokens: Vec<&str> = spaced.split_whitespace().collect();
    let name = tokens.pop().unwrap_or("").to_string();
    (c_type(&tokens), name)
}

fn c_type(tokens: &[&str]) -> String {
    let is_const = tokens.first() == Some(&"const");
    let base_tokens: Vec<&&str> = tokens
        .iter()
        .filter(|t| **t != "const" && **t != "*")
        .collect();
    let pointers = tokens.iter().filter(|t| **t == "*").count();
    let base = match base_tokens.as_slice() {
        [one] => rust_name_of_c(one),
        other => format!("?{other:?}"),
    };
    if pointers == 0 {
        return if base == "c_void" { "()".into() } else { base };
    }
    let mut ty = format!("{} {base}", if is_const { "*const" } else { "*mut" });
    for _ in 1..pointers {
        ty = format!("*mut {ty}");
    }
    ty
}

fn rust_name_of_c(c: &str) -> String {
    SCALARS
        .iter()
        .chain(TYPE_NAMES.iter())
        .find(|(from, _)| *from == c)
        .map_or_else(|| format!("?{c}"), |(_, to)| to.to_string())
}

fn camel(upper_snake: &str) -> String {
    upper_snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| w[..1].to_string() + &w[1..].to_lowercase())
        .collect()
}

fn parse_header(header: &str) -> Result<Api, String> {
    let mut api = Api::default();
    for decl in c_declarations(header) {
        if let Some(body) = decl
            .strip_prefix("typedef struct ")
            .filter(|d| d.contains('{'))
        {
            let (head, rest) = body.split_once('{').ok_or("struct")?;
            let (fields, _alias) = rest.rsplit_once('}').ok_or("struct")?;
            let fields = fields.split(';').map(str::trim).filter(|f| !f.is_empty());
            let fields = fields
                .map(|f| {
                    let (t, n) = c_typed_name(f);
                    (n, t)
                })
                .collect();
            api.structs.insert(rust_name_of_c(head.trim()), fields);
        } else if let Some(body) = decl.strip_prefix("typedef enum ") {
            let (head, rest) = body.split_once('{').ok_or("enum")?;
            let (values, _alias) = rest.rsplit_once('}').ok_or("enum")?;
            let values: Vec<(String, i64)> = values
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    let (name, value) = v.split_once('=').ok_or(format!("enum value {v}"))?;
                    let value = value
                        .trim()
                        .parse::<i64>()
                        .map_err(|e| format!("{v}: {e}"))?;
                    Ok((name.trim().to_string(), value))
                })
                .collect::<Result<_, String>>()?;
            // RK_CLOSE_NOTHING, RK_CLOSE_TERMINATE_SERVICE → Nothing, TerminateService.
            let prefix_words = common_prefix_words(values.iter().map(|(n, _)| n.as_str()));
            let values = values
                .iter()
                .map(|(n, v)| {
                    (
                        camel(
                            &n.split('_')
                                .skip(prefix_words)
                                .collect::<Vec<_>>()
                                .join("_"),
                        ),
                        *v,
                    )
                })
                .collect();
            api.enums.insert(rust_name_of_c(head.trim()), values);
        } else if let Some(body) = decl.strip_prefix("typedef struct ") {
            let mut words = body.split_whitespace();
            let (tag, alias) = (words.next(), words.next());
            if tag != alias || !TYPE_NAMES.iter().any(|(c, _)| Some(*c) == tag) {
                return Err(format!("unknown opaque type: {decl}"));
            }
        } else if let Some(body) = decl.strip_prefix("typedef ") {
            let (ty, name) = c_typed_name(body);
            let expected = match name.as_str() {
                "rk_ioreturn" => "i32",
                _ => return Err(format!("unexpected typedef: {decl}")),
            };
            if ty != expected {
                return Err(format!("typedef {name} is {ty}, expected {expected}"));
            }
        } else {
            if decl.contains("(*") {
                return Err(format!("a function pointer in the C ABI: {decl}"));
            }
            let (decl, symbol) = match decl.rsplit_once(" RK_SYMBOL(") {
                Some((d, sym)) => (d, sym.strip_suffix(')').map(str::trim)),
                None => return Err(format!("no RK_SYMBOL(...) (the kext's symbol prefix): {decl}")),
            };
            let (head, params) = decl
                .split_once('(')
                .ok_or(format!("not a prototype: {decl}"))?;
            let params = params
                .strip_suffix(')')
                .ok_or(format!("not a prototype: {decl}"))?;
            let (ret, name) = c_typed_name(head);
            let params = match params.trim() {
                "void" | "" => Vec::new(),
                list => list.split(',').map(|p| c_typed_name(p).0).collect(),
            };
            if symbol != Some(name.as_str()) {
                return Err(format!("{name} is declared with RK_SYMBOL({})", symbol.unwrap_or("?")));
            }
            api.functions.insert(name, (params, ret));
        }
    }
    Ok(api)
}

fn common_prefix_words<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    let split: Vec<Vec<&str>> = names.map(|n| n.split('_').collect()).collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    (0..shortest.saturating_sub(1))
        .take_while(|&i| split.iter().all(|words| words[i] == split[0][i]))
        .count()
}

// ---------------------------------------------------------------- the Rust side

fn rust_type(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Ptr(p) => {
            let kind = if p.mutability.is_some() {
                "*mut"
            } else {
                "*const"
            };
            format!("{kind} {}", rust_type(&p.elem))
        }
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or("?".into(), |s| s.ident.to_string()),
        syn::Type::Tuple(t) if t.elems.is_empty() => "()".into(),
        _ => "?unsupported".into(),
    }
}

fn signature(sig: &syn::Signature) -> (Vec<String>, String) {
    let params = sig
        .inputs
        .iter()
        .map(|arg| match arg {
            syn::FnArg::Typed(t) => rust_type(&t.ty),
            syn::FnArg::Receiver(_) => "?self".into(),
        })
        .collect();
    let ret = match &sig.output {
        syn::ReturnType::Default => "()".into(),
        syn::ReturnType::Type(_, ty) => rust_type(ty),
    };
    (params, ret)
}

fn has_attr(attrs: &[syn::Attribute], name: &str, arg: Option<&str>) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident(name)
            && arg.is_none_or(|want| {
                let mut found = false;
                let _ = a.parse_nested_meta(|m| {
                    found |= m.path.is_ident(want);
                    Ok(())
                });
                found
            })
    })
}

/// The name `#[export_name = concat!(env!("RUSTKEXT_SYMBOL_PREFIX"), "name")]` gives after the
/// prefix, or `None` for any other form.
fn export_name(attrs: &[syn::Attribute]) -> Option<String> {
    let attr = attrs.iter().find(|a| a.path().is_ident("export_name"))?;
    let syn::Meta::NameValue(nv) = &attr.meta else { return None };
    let syn::Expr::Macro(m) = &nv.value else { return None };
    if !m.mac.path.is_ident("concat") {
        return None;
    }
    let args = m
        .mac
        .parse_body_with(syn::punctuated::Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        .ok()?;
    let mut args = args.iter();
    let prefix_ok = matches!(args.next(), Some(syn::Expr::Macro(e)) if e.mac.path.is_ident("env")
        && e.mac.tokens.to_string() == "\"RUSTKEXT_SYMBOL_PREFIX\"");
    match (prefix_ok, args.next(), args.next()) {
        (true, Some(syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })), None) => Some(s.value()),
        _ => None,
    }
}

fn is_extern_c(abi: Option<&syn::Abi>) -> bool {
    abi.and_then(|a| a.name.as_ref())
        .is_some_and(|n| n.value() == "C")
}

fn parse_rust(sources: &[&str]) -> Result<Api, String> {
    let mut api = Api::default();
    for source in sources {
        let file = syn::parse_file(source).map_err(|e| format!("Rust parse error: {e}"))?;
        for item in file.items {
            match item {
                syn::Item::Fn(f) if is_extern_c(f.sig.abi.as_ref()) => {
                    let exported = export_name(&f.attrs);
                    if exported.as_deref() != Some(&f.sig.ident.to_string()) {
                        return Err(format!(
                            "{} is extern \"C\" but exports {exported:?}, not concat!(env!(\"RUSTKEXT_SYMBOL_PREFIX\"), \"{}\")",
                            f.sig.ident, f.sig.ident
                        ));
                    }
                    for input in &f.sig.inputs {
                        if let syn::FnArg::Typed(t) = input {
                            if matches!(*t.ty, syn::Type::BareFn(_)) {
                                return Err(format!("{}: a function pointer parameter", f.sig.ident));
                            }
                        }
                    }
                    api.functions
                        .insert(f.sig.ident.to_string(), signature(&f.sig));
                }
                syn::Item::ForeignMod(m) if is_extern_c(Some(&m.abi)) => {
                    for item in m.items {
                        if let syn::ForeignItem::Fn(f) = item {
                            api.imports
                                .insert(f.sig.ident.to_string(), signature(&f.sig));
                        }
                    }
                }
                syn::Item::Struct(s) if has_attr(&s.attrs, "repr", Some("C")) => {
                    let fields = s
                        .fields
                        .iter()
                        .map(|f| {
                            (
                                f.ident.as_ref().map_or("?".into(), |i| i.to_string()),
                                rust_type(&f.ty),
                            )
                        })
                        .collect();
                    api.structs.insert(s.ident.to_string(), fields);
                }
                syn::Item::Enum(e) if has_attr(&e.attrs, "repr", Some("C")) => {
                    let variants = e
                        .variants
                        .iter()
                        .map(|v| {
                            let value = match &v.discriminant {
                                Some((
                                    _,
                                    syn::Expr::Lit(syn::ExprLit {
                                        lit: syn::Lit::Int(i),
                                        ..
                                    }),
                                )) => i.base10_parse::<i64>().map_err(|e| e.to_string())?,
                                _ => {
                                    return Err(format!(
                                        "{}::{} needs an explicit value",
                                        e.ident, v.ident
                                    ))
                                }
                            };
                            Ok((v.ident.to_string(), value))
                        })
                        .collect::<Result<_, String>>()?;
                    api.enums.insert(e.ident.to_string(), variants);
                }
                _ => {}
            }
        }
    }
    Ok(api)
}

// ---------------------------------------------------------------- the comparator

/// Every disagreement between the header and the Rust sources, as readable lines.
fn compare(header: &str, rust_sources: &[&str]) -> Vec<String> {
    let (c, rust) = match (parse_header(header), parse_rust(rust_sources)) {
        (Ok(c), Ok(rust)) => (c, rust),
        (Err(e), _) | (_, Err(e)) => return vec![e],
    };
    let mut problems = Vec::new();
    let mut compare_fns =
        |what: &str,
         c_side: &BTreeMap<_, _>,
         rust_side: &BTreeMap<String, (Vec<String>, String)>| {
            for (name, c_sig) in c_side {
                match rust_side.get(name) {
                    None => {
                        problems.push(format!("{what} {name} is in the header but not in Rust"))
                    }
                    Some(r_sig) if r_sig != c_sig => {
                        problems.push(format!("{what} {name}: header {c_sig:?}, Rust {r_sig:?}"))
                    }
                    Some(_) => {}
                }
            }
            for name in rust_side.keys().filter(|n| !c_side.contains_key(*n)) {
                problems.push(format!("{what} {name} is in Rust but not in the header"));
            }
        };
    compare_fns("function", &c.functions, &rust.functions);
    compare_fns("shim helper", &c.imports, &rust.imports);
    for (name, c_fields) in &c.structs {
        match rust.structs.get(name) {
            None => problems.push(format!("struct {name} has no #[repr(C)] Rust struct")),
            Some(r) if r != c_fields => {
                problems.push(format!("struct {name}: header {c_fields:?}, Rust {r:?}"))
            }
            Some(_) => {}
        }
    }
    for (name, c_values) in &c.enums {
        match rust.enums.get(name) {
            None => problems.push(format!("enum {name} has no #[repr(C)] Rust enum")),
            Some(r) if r != c_values => {
                problems.push(format!("enum {name}: header {c_values:?}, Rust {r:?}"))
            }
            Some(_) => {}
        }
    }
    problems
}

// ---------------------------------------------------------------- tests

fn rust_sources() -> [String; 4] {
    [exported_functions(EXPORT_RS).unwrap(), C_ABI_RS.to_string(), TABLE_RS.to_string(), PUBLISHED_RS.to_string()]
}

fn compare_with(header: &str, sources: &[String; 4]) -> Vec<String> {
    let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
    compare(header, &refs)
}

#[test]
fn header_and_rust_agree() {
    let problems = compare_with(HEADER, &rust_sources());
    assert!(problems.is_empty(), "rustkext.h and the Rust C ABI disagree:\n{}", problems.join("\n"));
}

#[test]
fn the_parsers_see_the_whole_abi() {
    let c = parse_header(HEADER).unwrap();
    let sources = rust_sources();
    let rust = parse_rust(&[&sources[0], &sources[1], &sources[2], &sources[3]]).unwrap();
    assert_eq!(c.functions.len(), 15, "{:?}", c.functions.keys());
    assert!(c.imports.is_empty(), "Rust calls nothing of the shim");
    assert!(rust.imports.is_empty(), "Rust declares nothing of the shim");
    assert_eq!(c.structs.len(), 4);
    assert_eq!(c.enums.len(), 4);
    assert_eq!(
        c.functions["rk_client_open"],
        (vec!["*mut RkDriver".into(), "u32".into(), "bool".into(), "*mut u32".into()], "IOReturn".into())
    );
    assert_eq!(c.functions["rk_personality_key"], (vec!["u32".into()], "*const c_char".into()));
    assert_eq!(c.structs["RkMethodArgs"][7], ("struct_input".into(), "*const c_void".into()));
    assert_eq!(
        c.functions["rk_registry_values"],
        (vec!["*mut RkRegistryValue".into(), "u32".into()], "u32".into())
    );
    assert_eq!(c.structs["RkRegistryValue"][0], ("key".into(), "*const c_char".into()));
    assert_eq!(rust.functions.len(), 15);
}

/// The comparator must fail on each kind of drift; otherwise the test above proves nothing.
#[test]
fn the_comparator_catches_deliberate_mismatches() {
    let header_edits: &[(&str, &str)] = &[
        (
            "rk_client_close(rk_driver *driver, uint32_t client_id)",
            "rk_client_close(rk_driver *driver, uint64_t client_id)",
        ),
        ("rk_terminate_answer rk_service_terminate_request", "bool rk_service_terminate_request"),
        (
            "rk_driver *rk_service_start(const rk_property *values, uint32_t count)",
            "rk_driver *rk_service_start(rk_property *values, uint32_t count)",
        ),
        ("RK_TERMINATE_PROCEED = 2", "RK_TERMINATE_PROCEED = 3"),
        ("int32_t rk_module_stop(void)", "int32_t rk_module_stop(uint32_t token)"),
        (
            "rk_ioreturn rk_method_shape_for(uint32_t selector, rk_method_shape *shape)",
            "rk_ioreturn rk_method_shape_for(uint32_t selector, const rk_method_shape *shape)",
        ),
        (
            "void rk_service_release(rk_driver *driver) RK_SYMBOL(rk_service_release);",
            "void rk_service_release(rk_driver *driver) RK_SYMBOL(rk_service_release);\nvoid rk_service_extra(void) RK_SYMBOL(rk_service_extra);",
        ),
        ("void rk_service_close_gate(rk_driver *driver) RK_SYMBOL(rk_service_close_gate);", ""),
        (
            "rk_fileop_callback(rk_driver *driver, uintptr_t action",
            "rk_fileop_callback(rk_driver *driver, uint32_t action",
        ),
        (
            "    uint32_t struct_input_size;\n    uint32_t scalar_output_count; /* in:",
            "    uint32_t scalar_output_count; /* in:",
        ),
        ("    uint64_t value;\n} rk_property;", "    uint32_t value;\n} rk_property;"),
        ("RK_CLOSE_TERMINATE_SERVICE = 1", "RK_CLOSE_TERMINATE_SERVICE = 2"),
        ("RK_CLOSE_NOTHING = 0", "RK_CLOSE_IGNORE = 0"),
        ("typedef int32_t rk_ioreturn;", "typedef uint32_t rk_ioreturn;"),
        ("RK_REGISTRY_BOOL = 2", "RK_REGISTRY_BOOL = 3"),
        ("    const char *key; /* NUL", "    char *key; /* NUL"),
        (
            "rk_registry_values(rk_registry_value *values, uint32_t capacity)",
            "rk_registry_values(const rk_registry_value *values, uint32_t capacity)",
        ),
        // Each declaration names its own symbol.
        ("RK_SYMBOL(rk_kauth_scopes)", "RK_SYMBOL(rk_module_start)"),
        ("uint32_t rk_kauth_scopes(void) RK_SYMBOL(rk_kauth_scopes);", "uint32_t rk_kauth_scopes(void);"),
        // No function pointer crosses the C ABI.
        (
            "uint32_t rk_kauth_scopes(void) RK_SYMBOL(rk_kauth_scopes);",
            "uint32_t rk_kauth_scopes(void (*callback)(void)) RK_SYMBOL(rk_kauth_scopes);",
        ),
    ];
    let sources = rust_sources();
    for (from, to) in header_edits {
        assert!(HEADER.contains(from), "edit no longer applies: {from}");
        let broken = HEADER.replacen(from, to, 1);
        assert!(!compare_with(&broken, &sources).is_empty(), "not caught: {from} -> {to}");
    }
    let export_edits: &[(&str, &str)] = &[
        (
            "pub extern \"C\" fn rk_client_close(driver: *mut $crate::c_abi::RkDriver, client_id: u32)",
            "pub extern \"C\" fn rk_client_close(driver: *mut $crate::c_abi::RkDriver, client_id: i32)",
        ),
        // An export under another function's name, or no export_name at all.
        ("\"rk_service_close_gate\")]", "\"rk_service_release\")]"),
        (
            "#[export_name = concat!(env!(\"RUSTKEXT_SYMBOL_PREFIX\"), \"rk_kauth_scopes\")]\n",
            "",
        ),
        // A function pointer parameter.
        (
            "pub extern \"C\" fn rk_personality_key(index: u32)",
            "pub extern \"C\" fn rk_personality_key(index: extern \"C\" fn())",
        ),
    ];
    for (from, to) in export_edits {
        assert!(EXPORT_RS.contains(from), "edit no longer applies: {from}");
        let broken = EXPORT_RS.replacen(from, to, 1);
        let sources = [exported_functions(&broken).unwrap(), C_ABI_RS.to_string(), TABLE_RS.to_string(), PUBLISHED_RS.to_string()];
        assert!(!compare_with(HEADER, &sources).is_empty(), "not caught: {from} -> {to}");
    }
    let c_abi_edits: &[(&str, &str)] = &[
        ("    pub reserved: u32,\n    /// The number", "    pub reserved: u64,\n    /// The number"),
        ("    ShutDown = 1,", "    ShutDown = 4,"),
        ("    TerminateService = 1,", "    TerminateService = 3,"),
    ];
    for (from, to) in c_abi_edits {
        assert!(C_ABI_RS.contains(from), "edit no longer applies: {from}");
        let broken = C_ABI_RS.replacen(from, to, 1);
        let sources = [exported_functions(EXPORT_RS).unwrap(), broken, TABLE_RS.to_string(), PUBLISHED_RS.to_string()];
        assert!(!compare_with(HEADER, &sources).is_empty(), "not caught: {from} -> {to}");
    }
    let swapped = TABLE_RS.replacen(
        "    pub scalar_input_count: u32,\n    /// Size in bytes of the input struct.\n    pub struct_input_size: u32,",
        "    pub struct_input_size: u32,\n    /// Number of 64-bit scalars in.\n    pub scalar_input_count: u32,",
        1,
    );
    assert_ne!(swapped, TABLE_RS, "edit no longer applies");
    let sources = [exported_functions(EXPORT_RS).unwrap(), C_ABI_RS.to_string(), swapped, PUBLISHED_RS.to_string()];
    assert!(!compare_with(HEADER, &sources).is_empty(), "field order not caught");
    let published_edits: &[(&str, &str)] = &[
        (
            "    pub kind: u32,\n    /// Zero.\n    pub reserved: u32,",
            "    pub reserved: u32,\n    /// Zero.\n    pub kind: u32,",
        ),
        ("    Bool = 2,\n}", "    Bool = 4,\n}"),
    ];
    for (from, to) in published_edits {
        assert!(PUBLISHED_RS.contains(from), "edit no longer applies: {from}");
        let broken = PUBLISHED_RS.replacen(from, to, 1);
        let sources = [exported_functions(EXPORT_RS).unwrap(), C_ABI_RS.to_string(), TABLE_RS.to_string(), broken];
        assert!(!compare_with(HEADER, &sources).is_empty(), "not caught: {from} -> {to}");
    }
}
