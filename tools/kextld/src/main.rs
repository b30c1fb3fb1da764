//! kextld command line. Exit status: 0 linked, 1 link error, 2 usage.

use std::process::ExitCode;

const USAGE: &str = "usage: kextld -o <output> [-u <symbol>]... [-S] <input.o|input.a>...
  Links x86_64 Mach-O objects and archives into an MH_KEXT_BUNDLE, as Apple's ld64 -kext.
  -o <output>   the kext executable to write
  -u <symbol>   <symbol> must be defined by the inputs (pulled from an archive if needed);
                for a kext: -u _kmod_info
  -S            no debug map (the N_OSO/N_FUN stabs dsymutil reads), like ld64 -S
  Objects are always linked; archive members only to define undefined symbols. What stays
  undefined is imported from the kernel. ZERO_AR_DATE set: N_OSO times are 0 (as ld64).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut output = None;
    let mut required = Vec::new();
    let mut debug_map = true;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "-u" => {
                let Some(v) = it.next() else {
                    eprintln!("kextld: {a} needs a value\n\n{USAGE}");
                    return ExitCode::from(2);
                };
                if a == "-o" {
                    output = Some(v.clone());
                } else {
                    required.push(v.clone());
                }
            }
            "-S" => debug_map = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if a.starts_with('-') => {
                eprintln!("kextld: unknown option {a}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => files.push(a.clone()),
        }
    }
    let Some(output) = output else {
        eprintln!("kextld: -o is required\n\n{USAGE}");
        return ExitCode::from(2);
    };
    if files.is_empty() {
        eprintln!("kextld: no input files\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut inputs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match kextld::input::read_input(f, i + 1) {
            Ok(input) => inputs.push(input),
            Err(e) => {
                eprintln!("kextld: error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let options = kextld::Options {
        output_path: output.clone(),
        required,
        debug_map,
        zero_mod_time: std::env::var_os("ZERO_AR_DATE").is_some(),
    };
    match kextld::link(inputs, &options) {
        Ok(linked) => {
            if let Err(e) = write_executable(&output, &linked.bytes) {
                eprintln!("kextld: error: {output}: {e}");
                return ExitCode::from(1);
            }
            let u = linked.uuid;
            println!(
                "kextld: {output}: {} bytes, {} objects linked, {} imports, {} local + {} external relocations, {} GOT slots, UUID {:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
                linked.bytes.len(),
                linked.objects.len(),
                linked.imports,
                linked.local_relocs,
                linked.external_relocs,
                linked.got_slots,
                u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kextld: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Writes the output as ld64 writes a final linked image: executable (0755 before the umask).
fn write_executable(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o755);
    std::io::Write::write_all(&mut options.open(path)?, bytes)
}
