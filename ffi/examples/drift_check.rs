//! Drift check: generates the allowlisted bindings from real Kernel.framework headers
//! (`KERNEL_HEADERS`) and from the project's `include/kpi.h` with the one bindgen configuration,
//! and prints every type, constant or function signature that differs. Exits 1 on any difference.
//!
//! Usage: `KERNEL_HEADERS=<Kernel.framework/Headers> ffi/drift-check.sh [clang-target]`
//! (default target: x86_64-apple-macos10.15, the x86_64 kernel).

#[path = "../build/bindgen_config.rs"]
#[allow(dead_code)]
mod bindgen_config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use quote::ToTokens;

fn main() -> ExitCode {
    let Some(headers) = std::env::var_os("KERNEL_HEADERS").map(PathBuf::from) else {
        eprintln!("drift-check: set KERNEL_HEADERS to a Kernel.framework/Headers directory");
        return ExitCode::from(2);
    };
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "x86_64-apple-macos10.15".into());
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");

    let (real, ours) = match (
        items(&include.join("kernel.h"), Some(&headers), &target),
        items(&include.join("kpi.h"), None, &target),
    ) {
        (Ok(real), Ok(ours)) => (real, ours),
        (real, ours) => {
            for e in [real.err(), ours.err()].into_iter().flatten() {
                eprintln!("drift-check: {e}");
            }
            return ExitCode::from(2);
        }
    };

    let mut differences = 0;
    let names: std::collections::BTreeSet<_> = real.keys().chain(ours.keys()).collect();
    for name in names {
        match (real.get(name), ours.get(name)) {
            (Some(r), Some(o)) if r == o => continue,
            (Some(r), Some(o)) => println!("DIFFERS {name}\n  headers: {r}\n  kpi.h:   {o}"),
            (Some(r), None) => println!("MISSING from kpi.h: {r}"),
            (None, Some(o)) => println!("MISSING from headers: {o}"),
            (None, None) => unreachable!("name comes from one of the maps"),
        }
        differences += 1;
    }
    println!(
        "drift-check ({target}): {} items from {}, {} from include/kpi.h, {differences} differences",
        real.len(),
        headers.display(),
        ours.len()
    );
    if differences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Each generated item by name, rendered without anything that may legitimately differ
/// (parameter names, declaration order, comments).
fn items(
    header: &Path,
    include_dir: Option<&Path>,
    target: &str,
) -> Result<BTreeMap<String, String>, String> {
    // bindgen evaluates macros by compiling a file in this directory: one per process.
    let scratch = std::env::temp_dir().join(format!("macos-kext-sys-drift-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let generated = bindgen_config::builder(header, include_dir, Some(target))
        .clang_macro_fallback_build_dir(&scratch)
        .generate();
    let _ = std::fs::remove_dir_all(&scratch);
    let code = generated
        .map_err(|e| format!("{} for {target}: {e}", header.display()))?
        .to_string();
    let file = syn::parse_file(&code)
        .map_err(|e| format!("bindgen output of {}: {e}", header.display()))?;
    let mut map = BTreeMap::new();
    for item in file.items {
        match item {
            syn::Item::ForeignMod(block) => {
                for f in block.items {
                    if let syn::ForeignItem::Fn(mut f) = f {
                        for arg in f.sig.inputs.iter_mut() {
                            if let syn::FnArg::Typed(arg) = arg {
                                *arg.pat = syn::parse_quote!(_);
                            }
                        }
                        map.insert(f.sig.ident.to_string(), render(&f));
                    }
                }
            }
            syn::Item::Type(t) => drop(map.insert(t.ident.to_string(), render(&t))),
            syn::Item::Const(c) => drop(map.insert(c.ident.to_string(), render(&c))),
            syn::Item::Struct(s) => drop(map.insert(s.ident.to_string(), render(&s))),
            other => drop(map.insert(render(&other), render(&other))),
        }
    }
    Ok(map)
}

fn render(item: &impl ToTokens) -> String {
    item.to_token_stream().to_string()
}
