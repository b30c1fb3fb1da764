//! `kxld-check`: the Rust half of the kxld check (the C half is `driver/kxld-link.c`, linked
//! with kxld by `build-kxld.sh`). Run by `tools/kxld-check/kxld-check.sh`; see the README.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use kxld_check::macho::{MachO, MH_KEXT_BUNDLE};
use kxld_check::{exports, layout, model, plugins, probe, strip, verify};

const USAGE: &str = "usage:
  kxld-check classes KEXT_BINARY
      the kernel classes the kext's OSObject classes derive from (their superClass pointers)
  kxld-check probe-source --headers DIR CLASS...
      the C++ probe that makes clang lay out CLASS's vtables
  kxld-check model --config XNU_CONFIG_DIR --probe-object FILE --layouts FILE --out DIR CLASS...
      writes DIR/kernel and DIR/System.kext/PlugIns/<Set>.kext/{Info.plist,<Set>}
  kxld-check link --kxld KXLD_LINK --kernel FILE --plugins DIR --kext BUNDLE|BINARY [--plist FILE]
                  [--address HEX] [--out FILE]
      resolves OSBundleLibraries, links with kxld, verifies every fixup; exit 0 pass, 1 fail
  kxld-check verify --record FILE [--linked FILE]
      only the verification, of a link made earlier (`link` writes <out>.record), optionally of
      another linked image
  kxld-check vtables KEXT_BINARY
      the vtable symbols the kext defines
  kxld-check reloc-sites KEXT_BINARY
      offset and kind of each external relocation (where the negative test changes a byte)
  kxld-check strip-symbol IN OUT SYMBOL
  kxld-check edit-plist IN OUT [--remove-library ID]... [--set-library ID=VERSION]...";

/// The default load address: in the kext map below the kernel, within rel32 reach of it.
const DEFAULT_ADDRESS: u64 = 0xffff_ff7f_9000_0000;

struct Args {
    flags: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], valued: &[&str]) -> Result<Args, String> {
        let mut a = Args { flags: Vec::new(), positional: Vec::new() };
        let mut it = args.iter();
        while let Some(x) = it.next() {
            if x.starts_with("--") {
                if !valued.contains(&x.as_str()) {
                    return Err(format!("unknown option {x}"));
                }
                let v = it.next().ok_or_else(|| format!("{x} needs a value"))?;
                a.flags.push((x.clone(), v.clone()));
            } else {
                a.positional.push(x.clone());
            }
        }
        Ok(a)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(f, _)| f == k).map(|(_, v)| v.as_str())
    }
    fn all(&self, k: &str) -> Vec<&str> {
        self.flags.iter().filter(|(f, _)| f == k).map(|(_, v)| v.as_str()).collect()
    }
    fn need(&self, k: &str) -> Result<&str, String> {
        self.get(k).ok_or_else(|| format!("{k} is required"))
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn hex(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| format!("not a hex number: {s}"))
}

fn classes(a: &Args) -> Result<(), String> {
    let path = a.positional.first().ok_or("classes KEXT_BINARY")?;
    let bytes = read(path)?;
    for c in superclasses(&MachO::parse(&bytes)?) {
        println!("{c}");
    }
    Ok(())
}

/// The superclasses named by the kext's `<Class>10superClassE` relocations.
fn superclasses(kext: &MachO<'_>) -> Vec<String> {
    let base = kext.segments.first().map_or(0, |s| s.vmaddr);
    let mut out: Vec<String> = kext
        .symbols
        .iter()
        .filter(|s| s.is_defined() && s.name.ends_with("10superClassE"))
        .filter_map(|s| kext.extrel.iter().find(|r| u64::from(r.address) + base == s.n_value))
        .filter_map(|r| kext.symbols.get(r.symbolnum as usize))
        .filter_map(|t| t.name.strip_prefix("__ZN")?.strip_suffix("10gMetaClassE").map(str::to_string))
        .filter_map(|m| {
            let d = m.chars().take_while(char::is_ascii_digit).count();
            Some(m.get(d..)?.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn probe_source(a: &Args) -> Result<(), String> {
    let headers = PathBuf::from(a.need("--headers")?);
    let mut classes = Vec::new();
    for c in &a.positional {
        let h = probe::header_for(&headers, c)
            .ok_or_else(|| format!("no IOKit/{c}.h or libkern/c++/{c}.h under {}", headers.display()))?;
        classes.push((c.clone(), h));
    }
    print!("{}", probe::source(&classes));
    Ok(())
}

fn build_model(a: &Args) -> Result<(), String> {
    let config = PathBuf::from(a.need("--config")?);
    let object = read(a.need("--probe-object")?)?;
    let dump = std::fs::read_to_string(a.need("--layouts")?).map_err(|e| e.to_string())?;
    let out = PathBuf::from(a.need("--out")?);
    let layouts = layout::parse(&dump)?;
    let vtables = probe::read(&object, &layouts, &a.positional)?;
    let sets = exports::load(&config, "x86_64")?;
    let model = model::write(&out, &sets, &vtables)?;
    println!("kernel model {}: {} symbols (KPI exports of every set + vtable functions)", out.join("kernel").display(), model.symbols.len());
    for set in &sets {
        println!("  {} {} (compatible back to {}): {} exports", set.bundle_id, set.version, set.compatible_version.as_deref().unwrap_or("-"), set.exports.len());
    }
    for vt in &vtables {
        println!("  vtable {} ({}): {} slots from the headers", vt.class, probe::vtable_symbol(&vt.class), vt.slots.len());
    }
    Ok(())
}

/// A kext bundle (Contents/Info.plist + Contents/MacOS/<executable>) or a binary + --plist.
fn kext_files(kext: &str, plist: Option<&str>) -> Result<(PathBuf, PathBuf), String> {
    let p = Path::new(kext);
    if p.is_dir() {
        let info = p.join("Contents/Info.plist");
        let v = plist::Value::from_file(&info).map_err(|e| format!("{}: {e}", info.display()))?;
        let exe = v
            .as_dictionary()
            .and_then(|d| d.get("CFBundleExecutable"))
            .and_then(|x| x.as_string())
            .ok_or_else(|| format!("{}: no CFBundleExecutable", info.display()))?;
        let plist = plist.map_or(info.clone(), PathBuf::from);
        return Ok((p.join("Contents/MacOS").join(exe), plist));
    }
    let plist = plist.ok_or("a kext binary needs --plist (its Info.plist)")?;
    Ok((p.to_path_buf(), PathBuf::from(plist)))
}

fn link(a: &Args) -> Result<bool, String> {
    let (binary, plist_path) = kext_files(a.need("--kext")?, a.get("--plist"))?;
    let kernel_path = a.need("--kernel")?;
    let plugins_dir = PathBuf::from(a.need("--plugins")?);
    let kxld = a.need("--kxld")?;
    let address = a.get("--address").map_or(Ok(DEFAULT_ADDRESS), hex)?;
    let out_path = a.get("--out").map_or_else(|| format!("{}.kxld-linked", binary.display()), str::to_string);

    let info = plist::Value::from_file(&plist_path).map_err(|e| format!("{}: {e}", plist_path.display()))?;
    let (kext_id, declared) = plugins::kext_identity(&info)?;
    let libraries = plugins::scan(&plugins_dir)?;
    println!("kext {kext_id}: {}", binary.display());
    println!("kernel {kernel_path}; KPIs from {}", plugins_dir.display());
    let deps = match plugins::resolve(&kext_id, &declared, &libraries) {
        Ok(d) => d,
        Err(errors) => {
            for e in errors {
                println!("dependencies: {e}");
            }
            println!("FAIL: the kernel would not link {kext_id} (dependencies do not resolve)");
            return Ok(false);
        }
    };
    for (lib, (_, want)) in deps.iter().zip(&declared) {
        println!("  {} {} (declared {want}, compatible back to {})", lib.id, lib.version, lib.compatible_version.as_deref().unwrap_or("-"));
    }
    let kext_bytes = read(&binary.to_string_lossy())?;
    let kext = MachO::parse(&kext_bytes)?;
    if kext.filetype != MH_KEXT_BUNDLE {
        println!("FAIL: {} is not an MH_KEXT_BUNDLE (filetype {:#x})", binary.display(), kext.filetype);
        return Ok(false);
    }

    let mut cmd = Command::new(kxld);
    cmd.args(["--kernel", kernel_path, "--kext"]).arg(&binary);
    cmd.args(["--name", &kext_id, "--address", &format!("{address:x}"), "--out", &out_path, "--log-level", "4"]);
    let mut iface_args = Vec::new();
    for lib in &deps {
        let exe = lib.executable.as_ref().ok_or("library without executable")?;
        cmd.arg("--interface").arg(format!("{}={}", lib.id, exe.display()));
        iface_args.push((lib.id.clone(), exe.clone()));
    }
    println!("kxld: linking at {address:#x}");
    let result = cmd.output().map_err(|e| format!("{kxld}: {e}"))?;
    for line in String::from_utf8_lossy(&result.stderr).lines() {
        println!("  {line}");
    }
    if !result.status.success() {
        println!("FAIL: kxld refused {kext_id} (see its messages above)");
        return Ok(false);
    }
    let stdout = String::from_utf8_lossy(&result.stdout);
    let kmod = stdout
        .lines()
        .find_map(|l| l.strip_prefix("kmod_info "))
        .map(hex)
        .transpose()?
        .ok_or("kxld-link printed no kmod_info")?;
    println!("kxld: linked {kext_id} -> {out_path}");
    let mut record = format!("kext {}\nkernel {kernel_path}\naddress {address:x}\nkmod_info {kmod:x}\n", binary.display());
    for (id, p) in &iface_args {
        record.push_str(&format!("interface {id}={}\n", p.display()));
    }
    let record_path = format!("{out_path}.record");
    std::fs::write(&record_path, record).map_err(|e| format!("{record_path}: {e}"))?;
    verify_files(&kext_bytes, &out_path, address, kmod, kernel_path, &iface_args)
}

fn verify_files(kext_bytes: &[u8], linked_path: &str, address: u64, kmod: u64, kernel_path: &str, ifaces: &[(String, PathBuf)]) -> Result<bool, String> {
    let kext = MachO::parse(kext_bytes)?;
    let linked = read(linked_path)?;
    let kernel_bytes = read(kernel_path)?;
    let kernel = MachO::parse(&kernel_bytes)?;
    let iface_bytes: Vec<(String, Vec<u8>)> =
        ifaces.iter().map(|(id, p)| Ok((id.clone(), read(&p.to_string_lossy())?))).collect::<Result<_, String>>()?;
    let mut interfaces = Vec::new();
    for (id, b) in &iface_bytes {
        interfaces.push(verify::Interface { bundle_id: id.clone(), macho: MachO::parse(b)? });
    }
    let outcome = verify::verify(&kext, &linked, address, kmod, &kernel, &interfaces);
    println!("verification (independent of kxld):");
    for l in &outcome.lines {
        println!("  {l}");
    }
    for e in &outcome.errors {
        println!("  ERROR: {e}");
    }
    if outcome.passed() {
        println!("PASS: kxld linked the kext and every fixup is what the kernel's symbols and vtables require");
    } else {
        println!("FAIL: {} verification errors", outcome.errors.len());
    }
    Ok(outcome.passed())
}

fn verify_cmd(a: &Args) -> Result<bool, String> {
    let record_path = a.need("--record")?;
    let record = std::fs::read_to_string(record_path).map_err(|e| format!("{record_path}: {e}"))?;
    let field = |k: &str| {
        record
            .lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
            .ok_or_else(|| format!("{record_path}: no {k}"))
    };
    let mut ifaces = Vec::new();
    for spec in record.lines().filter_map(|l| l.strip_prefix("interface ")) {
        let (id, p) = spec.split_once('=').ok_or("bad interface line")?;
        ifaces.push((id.to_string(), PathBuf::from(p)));
    }
    let linked = match a.get("--linked") {
        Some(l) => l.to_string(),
        None => record_path.strip_suffix(".record").ok_or("--linked is needed")?.to_string(),
    };
    let kext = read(field("kext")?)?;
    verify_files(&kext, &linked, hex(field("address")?)?, hex(field("kmod_info")?)?, field("kernel")?, &ifaces)
}

fn vtables(a: &Args) -> Result<(), String> {
    let path = a.positional.first().ok_or("vtables KEXT_BINARY")?;
    let bytes = read(path)?;
    for s in MachO::parse(&bytes)?.symbols.iter().filter(|s| s.is_defined() && s.name.starts_with("__ZTV")) {
        println!("{}", s.name);
    }
    Ok(())
}

fn reloc_sites(a: &Args) -> Result<(), String> {
    let path = a.positional.first().ok_or("reloc-sites KEXT_BINARY")?;
    let bytes = read(path)?;
    let k = MachO::parse(&bytes)?;
    let base = k.segments.first().map_or(0, |s| s.vmaddr);
    for r in &k.extrel {
        let name = k.symbols.get(r.symbolnum as usize).map_or("?", |s| s.name.as_str());
        println!("{} {} {name}", u64::from(r.address) - base, kxld_check::macho::reloc_type_name(r.kind));
    }
    Ok(())
}

fn strip_cmd(a: &Args) -> Result<(), String> {
    let [input, output, name] = a.positional.as_slice() else { return Err("strip-symbol IN OUT SYMBOL".into()) };
    let out = strip::strip_symbol(&read(input)?, name)?;
    std::fs::write(output, out).map_err(|e| format!("{output}: {e}"))
}

fn edit_plist(a: &Args) -> Result<(), String> {
    let [input, output] = a.positional.as_slice() else { return Err("edit-plist IN OUT".into()) };
    let mut v = plist::Value::from_file(input).map_err(|e| format!("{input}: {e}"))?;
    let libs = v
        .as_dictionary_mut()
        .and_then(|d| d.get_mut("OSBundleLibraries"))
        .and_then(|l| l.as_dictionary_mut())
        .ok_or_else(|| format!("{input}: no OSBundleLibraries"))?;
    for id in a.all("--remove-library") {
        libs.remove(id).ok_or_else(|| format!("{input}: OSBundleLibraries has no {id}"))?;
    }
    for spec in a.all("--set-library") {
        let (id, vers) = spec.split_once('=').ok_or("--set-library ID=VERSION")?;
        libs.insert(id.to_string(), plist::Value::String(vers.to_string()));
    }
    v.to_file_xml(output).map_err(|e| format!("{output}: {e}"))
}

fn run() -> Result<bool, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((sub, rest)) = argv.split_first() else { return Err(USAGE.into()) };
    let valued = [
        "--headers", "--config", "--probe-object", "--layouts", "--out", "--kxld", "--kernel", "--plugins", "--kext",
        "--plist", "--address", "--linked", "--record", "--remove-library", "--set-library",
    ];
    let a = Args::parse(rest, &valued)?;
    match sub.as_str() {
        "classes" => classes(&a).map(|()| true),
        "probe-source" => probe_source(&a).map(|()| true),
        "model" => build_model(&a).map(|()| true),
        "link" => link(&a),
        "verify" => verify_cmd(&a),
        "reloc-sites" => reloc_sites(&a).map(|()| true),
        "vtables" => vtables(&a).map(|()| true),
        "strip-symbol" => strip_cmd(&a).map(|()| true),
        "edit-plist" => edit_plist(&a).map(|()| true),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(true)
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("kxld-check: {e}");
            ExitCode::from(2)
        }
    }
}
