//! `rustkext`: RustKext's command. See framework/build/README.md.
//!
//! ```text
//! rustkext identity [KEXT_DIR]              shell assignments of every derived name (build.sh)
//! rustkext plist [KEXT_DIR] [-o FILE]       the Info.plist
//! rustkext kmod-glue [KEXT_DIR] -o FILE     the kmod glue (<name>_info.c)
//! rustkext shim-defines [KEXT_DIR]          the shim's -D defines, one per line
//! rustkext new BUNDLE_ID DIR [--framework CHECKOUT] [--member]
//!                                           a new kext from the templates
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustkext_build::{generate, scaffold, Identity};

const USAGE: &str = "usage:
  rustkext identity [KEXT_DIR]            shell assignments of every name derived from rustkext.toml
  rustkext plist [KEXT_DIR] [-o FILE]     the kext's Info.plist (stdout without -o)
  rustkext kmod-glue [KEXT_DIR] -o FILE   the kmod glue (kmod_info, _realmain, _antimain)
  rustkext shim-defines [KEXT_DIR]        the -D defines the one shim is compiled with, one per line
  rustkext new BUNDLE_ID DIR [--framework CHECKOUT] [--member]
                                          a new kext (api, driver, glue, cli, tests) in DIR
KEXT_DIR holds rustkext.toml (default: the current directory or the nearest one above it).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rustkext: {e}");
            if e.starts_with("usage") || e.contains("unknown command") {
                eprintln!("\n{USAGE}");
            }
            ExitCode::from(2)
        }
    }
}

/// The arguments without `-o FILE`, and FILE.
fn split_output(args: &[String]) -> Result<(Vec<String>, Option<PathBuf>), String> {
    let mut rest = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-o" {
            out = Some(PathBuf::from(it.next().ok_or("-o needs a file")?));
        } else {
            rest.push(a.clone());
        }
    }
    Ok((rest, out))
}

fn identity(args: &[String]) -> Result<Identity, String> {
    match args {
        [] => Identity::find(&std::env::current_dir().map_err(|e| e.to_string())?).map_err(|e| e.to_string()),
        [dir] => Identity::load(Path::new(dir)).map_err(|e| e.to_string()),
        _ => Err("usage: one KEXT_DIR at most".into()),
    }
}

/// The glue crate's package version (`version = "..."`, or the workspace's).
fn version(id: &Identity) -> Result<String, String> {
    let manifest = id.glue_dir().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", manifest.display()))?;
    let package = table.get("package").and_then(|p| p.as_table()).ok_or("no [package]")?;
    match package.get("version") {
        Some(toml::Value::String(v)) => Ok(v.clone()),
        Some(toml::Value::Table(t)) if t.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
            let mut dir = id.glue_dir();
            while dir.pop() {
                let root = dir.join("Cargo.toml");
                let Ok(text) = std::fs::read_to_string(&root) else { continue };
                let Ok(table) = text.parse::<toml::Table>() else { continue };
                if let Some(v) = table
                    .get("workspace")
                    .and_then(|w| w.get("package"))
                    .and_then(|p| p.get("version"))
                    .and_then(|v| v.as_str())
                {
                    return Ok(v.to_string());
                }
            }
            Err(format!("{}: version.workspace = true, but no workspace version above it", manifest.display()))
        }
        _ => Err(format!("{}: no package version", manifest.display())),
    }
}

fn crate_name(id: &Identity) -> Result<String, String> {
    let manifest = id.glue_dir().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", manifest.display()))?;
    table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no package name", manifest.display()))
}

/// A value as a single-quoted shell word.
fn shell(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn write(out: Option<PathBuf>, text: &str) -> Result<(), String> {
    match out {
        Some(path) => std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("usage: a command")?;
    match command.as_str() {
        "identity" => {
            let id = identity(rest)?;
            let glue = crate_name(&id)?;
            let budget = |arch| id.size_budget.get(arch).map(u64::to_string).unwrap_or_default();
            let vars = [
                ("KEXT_DIR", id.dir.display().to_string()),
                ("BUNDLE_ID", id.bundle_id.clone()),
                ("NAME", id.name.clone()),
                ("VERSION", version(&id)?),
                ("CLASS_PREFIX", id.class_prefix.clone()),
                ("SERVICE_CLASS", id.service_class()),
                ("USER_CLIENT_CLASS", id.user_client_class()),
                ("MODULE_START", id.module_start()),
                ("MODULE_STOP", id.module_stop()),
                ("SYMBOL_PREFIX", id.symbol_prefix()),
                ("LOG_PREFIX", id.log_prefix()),
                ("GLUE_DIR", id.glue_dir().display().to_string()),
                ("GLUE_CRATE", glue.clone()),
                ("GLUE_LIB", format!("lib{}.a", glue.replace('-', "_"))),
                ("RUST_TEXT_BUDGET_X86_64", budget("x86_64")),
                ("RUST_TEXT_BUDGET_ARM64E", budget("arm64e")),
            ];
            for (name, value) in vars {
                println!("{name}={}", shell(&value));
            }
            Ok(())
        }
        "plist" => {
            let (rest, out) = split_output(rest)?;
            let id = identity(&rest)?;
            write(out, &generate::info_plist(&id, &version(&id)?))
        }
        "kmod-glue" => {
            let (rest, out) = split_output(rest)?;
            let id = identity(&rest)?;
            write(Some(out.ok_or("usage: kmod-glue needs -o FILE")?), &generate::kmod_glue(&id, &version(&id)?))
        }
        "shim-defines" => {
            let id = identity(rest)?;
            for d in id.shim_defines() {
                println!("{d}");
            }
            Ok(())
        }
        "new" => scaffold::run(rest),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}
