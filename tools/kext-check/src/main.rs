//! kext-check: command-line front end (see lib.rs). Exit status: 0 passed, 1 findings, 2 usage or
//! unreadable input.

use std::path::Path;
use std::process::ExitCode;

use kext_check::{exports, imports, linkmap, macho, objects, plist_rules, sizes, Arch, Finding};

const USAGE: &str = "usage:
  kext-check objects --arch x86_64|arm64e <lib.a|obj.o>...
      Mach-O type, cpu type/subtype and minimum macOS; no floating-point/vector register use;
      no core::panicking/core::fmt in what the link takes; undefined symbols only the allowed set.
  kext-check imports --plist <Info.plist> --exports <xnu config/> --arch x86_64|arm64e [--linked] [--no-libkmod] [--code-from <obj|lib.a>]... <file>...
      Every undefined symbol is exported by a bundle in OSBundleLibraries (--linked: the input is
      the linked kext, and every declared bundle must be used; --no-libkmod: the kext's own kmod
      glue defines _start/_stop, so they may not be imports either; --code-from: the objects the
      kext was linked from, whose jump tables the FP/SIMD scan skips: a kext has no LC_DATA_IN_CODE).
  kext-check plist <Info.plist> --classes <service class>,<user client class>
      The Info.plist rules (identifier = IOMatchCategory = IOResourceMatch, IOClass the shim's
      service class, no IOUserClientClass, KPIs only, at the oldest supported version).
  kext-check sizes --arch x86_64|arm64e <lib.a>
      __TEXT/__DATA sizes of the objects the link takes, and of the whole archive.
  kext-check linked-text --map <link map> --archive <lib.a file name> [--budget <bytes>] [--label <text>]
      __TEXT,__text bytes the link kept from the archive's members (a dead-stripping link's map,
      ld64.lld -map); a finding when above the budget.
  kext-check mark-kernel-abi <in.a|in.o> <out>
      Copies rustc's arm64e objects with cpusubtype 0x80000002 (user pointer-auth ABI) marked
      0xC0000002 (the kernel ABI of Apple clang's -mkernel objects); refuses objects with signed
      data pointers, whose signing differs between the two.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(findings) if findings.is_empty() => ExitCode::SUCCESS,
        Ok(findings) => {
            for f in &findings {
                eprintln!("kext-check: FAIL: {f}");
            }
            eprintln!("kext-check: {} problem(s)", findings.len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("kext-check: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

struct Args {
    flags: Vec<(String, Option<String>)>,
    files: Vec<String>,
}

impl Args {
    fn parse(args: &[String], valued: &[&str], switches: &[&str]) -> Result<Args, String> {
        let mut out = Args { flags: Vec::new(), files: Vec::new() };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if valued.contains(&a.as_str()) {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                out.flags.push((a.clone(), Some(v.clone())));
            } else if switches.contains(&a.as_str()) {
                out.flags.push((a.clone(), None));
            } else if a.starts_with("--") {
                return Err(format!("unknown option {a}"));
            } else {
                out.files.push(a.clone());
            }
        }
        Ok(out)
    }

    fn value(&self, name: &str) -> Result<&str, String> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
            .ok_or_else(|| format!("{name} is required"))
    }

    /// Every value given to `name` (an option that may be repeated).
    fn values(&self, name: &str) -> Vec<&str> {
        self.flags.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.as_deref()).collect()
    }

    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    fn arch(&self) -> Result<Arch, String> {
        self.value("--arch")?.parse()
    }

    fn files(&self) -> Result<&[String], String> {
        if self.files.is_empty() {
            return Err("no input files".into());
        }
        Ok(&self.files)
    }
}

fn read_all(files: &[String], arch: Arch) -> Result<Vec<macho::Member>, String> {
    let mut members = Vec::new();
    for f in files {
        members.extend(macho::read_file(f, arch)?);
    }
    Ok(members)
}

fn run(args: &[String]) -> Result<Vec<Finding>, String> {
    let (command, rest) = args.split_first().ok_or("no command")?;
    match command.as_str() {
        "objects" => {
            let a = Args::parse(rest, &["--arch"], &[])?;
            let arch = a.arch()?;
            let members = read_all(a.files()?, arch)?;
            let report = objects::check_objects(&members, arch);
            for (index, why) in &report.linked {
                println!("  linked: {} ({why})", members[*index].name);
            }
            if report.findings.is_empty() {
                println!("kext-check: {arch} objects OK ({} objects, {} linked)", members.len(), report.linked.len());
            }
            Ok(report.findings)
        }
        "imports" => {
            let a = Args::parse(rest, &["--arch", "--plist", "--exports", "--code-from"], &["--linked", "--no-libkmod"])?;
            let arch = a.arch()?;
            let plist = read_plist(a.value("--plist")?)?;
            let declared = plist_rules::declared_libraries(&plist);
            let lists = exports::load(Path::new(a.value("--exports")?), arch)?;
            let mut members = read_all(a.files()?, arch)?;
            // A linked image's jump tables: from the objects it was linked from (--code-from).
            let inputs = read_all(&a.values("--code-from").iter().map(|s| s.to_string()).collect::<Vec<_>>(), arch)?;
            for member in &mut members {
                macho::add_data_in_code_from(member, &inputs);
            }
            let report = imports::check_imports(&members, &declared, &lists, a.has("--linked"), !a.has("--no-libkmod"));
            for (symbol, from) in &report.resolved {
                println!("  {symbol:<60} {}", if from.is_empty() { "-".to_string() } else { from.join(", ") });
            }
            if report.findings.is_empty() {
                println!("kext-check: {arch}: all {} imports exported by declared KPIs", report.resolved.len());
            }
            Ok(report.findings)
        }
        "plist" => {
            let a = Args::parse(rest, &["--classes"], &[])?;
            let [path] = a.files()? else { return Err("plist takes one Info.plist".into()) };
            let classes: Vec<String> = a.value("--classes")?.split(',').map(str::to_string).collect();
            let findings = plist_rules::check_plist(&read_plist(path)?, &classes);
            if findings.is_empty() {
                println!("kext-check: {path} OK (shim classes: {})", classes.join(", "));
            }
            Ok(findings)
        }
        "sizes" => {
            let a = Args::parse(rest, &["--arch"], &[])?;
            let arch = a.arch()?;
            let members = read_all(a.files()?, arch)?;
            let linked = objects::check_objects(&members, arch).linked;
            let total = |ids: &mut dyn Iterator<Item = usize>| {
                ids.map(|i| sizes::size_of(&members[i])).fold((0, 0), |(t, d), s| (t + s.text, d + s.data))
            };
            let (lt, ld) = total(&mut linked.iter().map(|(i, _)| *i));
            let (at, ad) = total(&mut (0..members.len()));
            println!("{arch}: linked into the kext: text {lt} bytes, data {ld} bytes ({} of {} objects); whole archive: text {at}, data {ad}", linked.len(), members.len());
            Ok(Vec::new())
        }
        "linked-text" => {
            let a = Args::parse(rest, &["--map", "--archive", "--budget", "--label"], &[])?;
            let path = a.value("--map")?;
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let map = linkmap::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            let archive = a.value("--archive")?;
            let (bytes, symbols) = linkmap::text_from_archive(&map, archive);
            if symbols == 0 {
                return Err(format!("{path}: no __TEXT,__text symbol comes from {archive}"));
            }
            let label = a.value("--label").unwrap_or(archive);
            let budget = match a.value("--budget") {
                Ok(b) => Some(b.parse::<u64>().map_err(|e| format!("--budget {b}: {e}"))?),
                Err(_) => None,
            };
            match budget {
                Some(budget) => println!("kext-check: {label}: linked Rust __text {bytes} bytes ({symbols} symbols), budget {budget}"),
                None => println!("kext-check: {label}: linked Rust __text {bytes} bytes ({symbols} symbols)"),
            }
            Ok(match budget {
                Some(budget) if bytes > budget => vec![Finding::OverBudget { what: label.to_string(), bytes, budget }],
                _ => Vec::new(),
            })
        }
        "mark-kernel-abi" => {
            let [input, output] = rest else { return Err("mark-kernel-abi takes <in> <out>".into()) };
            let data = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
            match kext_check::ptrauth::mark_kernel_abi(input, &data) {
                Ok((marked, changed)) => {
                    std::fs::write(output, marked).map_err(|e| format!("{output}: {e}"))?;
                    println!("kext-check: {output}: {changed} object(s) marked with the arm64e kernel pointer-auth ABI (0xc0000002)");
                    Ok(Vec::new())
                }
                Err(reason) => Ok(vec![Finding::AbiNotMarked { reason }]),
            }
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(Vec::new())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn read_plist(path: &str) -> Result<plist::Value, String> {
    plist::Value::from_file(path).map_err(|e| format!("{path}: {e}"))
}
