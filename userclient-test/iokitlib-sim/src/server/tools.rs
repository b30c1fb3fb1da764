//! The answers of the kext tools (`kmutil unload`/`showloaded`, `kextunload`, `kextstat`) on
//! the simulated machine. Where each line comes from:
//!
//! - the kernel's own messages, which the tools print prefixed with `(kernel) ` as they relay the
//!   kext request's log (the form the README's VM step 6 and the harness's `kextctl` tests
//!   quote), in xnu-11417.101.15 `libkern/c++/OSKext.cpp`'s words: `removeKext` "Can't remove
//!   kext %s; services failed to terminate - 0x%x." and "…; kext failed to unload - 0x%x.",
//!   `unload` "Can't unload kext %s; classes have instances:" with
//!   `reportOSMetaClassInstances` "    Kext %s class %s has %d instance%s.", and the request
//!   handler's "Kext %s not found for unload request.";
//! - the tool's own failure line "Failed to unload %s - %s." with `mach_error_string` of the code
//!   (IOKitUser's `OSKextUnloadKextWithIdentifier`, as the README and `codes.rs` quote it; the
//!   texts from xnu `libsyscall/mach/err_iokit.sub` and `err_libkern.sub`);
//! - the listing in `kextstat`'s columns (`Index Refs Address Size Wired Name (Version) UUID
//!   <Linked Against>`), one row for the kext if loaded; index, address, sizes, UUID and links
//!   are simulated values.
//!
//! Not verified against the real tools: `kmutil`'s exact wording (closed source; it is given the
//! same lines as `kextunload`) and the exit status of a failed unload (71, `EX_OSERR`, as the
//! harness's own `kextctl` test assumes). `kextctl` reads only the exit status (zero or not), the
//! first known code in the text, and whether a listing line holds the bundle id.

use rustkext::Identity;
use xnu_sim::Kernel;

/// `sysexits.h`.
const EX_USAGE: i32 = 64;
const EX_OSERR: i32 = 71;

/// `libkern/OSKextLib.h`: `libkern_kext_err(0x4)`, `(0x6)`.
const KOS_KEXT_RETURN_NOT_PRIVILEGED: i32 = 0xdc00_8004_u32 as i32;
const KOS_KEXT_RETURN_NOT_FOUND: i32 = 0xdc00_8006_u32 as i32;
const KOS_KEXT_RETURN_START_STOP_ERROR: i32 = 0xdc00_8017_u32 as i32;
const KOS_KEXT_RETURN_IN_USE: i32 = 0xdc00_8018_u32 as i32;
const KIO_RETURN_UNSUPPORTED: i32 = 0xe000_02c7_u32 as i32;

/// The header `kextstat` and `kmutil showloaded` print.
pub const LISTING_HEADER: &str =
    "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>";

/// What a tool printed and how it exited.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `mach_error_string` of the codes an unload can end with.
pub fn mach_error_string(code: i32) -> String {
    match code {
        KIO_RETURN_UNSUPPORTED => "(iokit/common) unsupported function".into(),
        KOS_KEXT_RETURN_NOT_PRIVILEGED => "(libkern/kext) not privileged".into(),
        KOS_KEXT_RETURN_NOT_FOUND => "(libkern/kext) not found".into(),
        KOS_KEXT_RETURN_START_STOP_ERROR => {
            "(libkern/kext) kext (kmod) start/stop routine failed".into()
        }
        KOS_KEXT_RETURN_IN_USE => {
            "(libkern/kext) kext is in use or retained (cannot unload)".into()
        }
        other => format!("unknown error code {:#x}", other as u32),
    }
}

/// Runs the tool named by `argv[0]` as a process with effective uid `euid`.
pub fn run(kernel: &Kernel, kext: &Identity, argv: &[String], euid: u32) -> Output {
    let tool = argv
        .first()
        .and_then(|a| crate::tools::tool_name(std::ffi::OsStr::new(a)))
        .unwrap_or("");
    let args: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    match (tool, args.as_slice()) {
        ("kmutil", ["unload", rest @ ..]) => {
            match bundle_option(rest, &["-b", "--bundle-identifier"]) {
                Some(Some(id)) => unload(kernel, kext, id, euid),
                _ => usage(tool, "kmutil unload -b <bundle-identifier>"),
            }
        }
        ("kmutil", ["showloaded", rest @ ..]) => {
            match bundle_option(rest, &["-b", "--bundle-identifier"]) {
                Some(id) => listing(kernel, kext, id),
                None => usage(tool, "kmutil showloaded [--bundle-identifier <id>]"),
            }
        }
        ("kextunload", rest) => match bundle_option(rest, &["-b", "-bundle-id"]) {
            Some(Some(id)) => unload(kernel, kext, id, euid),
            _ => usage(tool, "kextunload -b <bundle_id>"),
        },
        ("kextstat", rest) => match bundle_option(rest, &["-b", "-bundle-id"]) {
            Some(id) => listing(kernel, kext, id),
            None => usage(tool, "kextstat [-b <bundle_id>]"),
        },
        _ => usage(
            if tool.is_empty() { "kmutil" } else { tool },
            "see the README",
        ),
    }
}

/// `Some(None)`: no arguments; `Some(Some(id))`: exactly one bundle option; `None`: anything else.
fn bundle_option<'a>(args: &[&'a str], flags: &[&str]) -> Option<Option<&'a str>> {
    match args {
        [] => Some(None),
        [flag, id] if flags.contains(flag) => Some(Some(id)),
        [one] => flags
            .iter()
            .find_map(|f| one.strip_prefix(&format!("{f}=")))
            .map(Some),
        _ => None,
    }
}

fn usage(tool: &str, form: &str) -> Output {
    Output {
        status: EX_USAGE,
        stdout: String::new(),
        stderr: format!("{tool} (xnu-sim stand-in): only this form is simulated: {form}\n"),
    }
}

fn unload(kernel: &Kernel, kext: &Identity, bundle_id: &str, euid: u32) -> Output {
    if euid != 0 {
        // The kext request needs the host privilege port, which only root gets.
        return unload_output(bundle_id, KOS_KEXT_RETURN_NOT_PRIVILEGED, &[]);
    }
    let code = kernel.unload_bundle(bundle_id);
    let instances: Vec<(&str, u32)> = [kext.service_class, kext.user_client_class]
        .into_iter()
        .map(|class| (class, kernel.instance_count(class)))
        .collect();
    unload_output(bundle_id, code, &instances)
}

/// What the unload tools print for the kernel's answer `code` (`instances`: the kext's classes
/// and their live instances, listed when the kernel refused because of them).
pub fn unload_output(bundle_id: &str, code: i32, instances: &[(&str, u32)]) -> Output {
    if code == 0 {
        return Output::default();
    }
    let mut kernel_lines = Vec::new();
    match code {
        KOS_KEXT_RETURN_NOT_PRIVILEGED => {}
        KIO_RETURN_UNSUPPORTED => kernel_lines.push(format!(
            "Can't remove kext {bundle_id}; services failed to terminate - {:#x}.",
            code as u32
        )),
        KOS_KEXT_RETURN_NOT_FOUND => {
            kernel_lines.push(format!("Kext {bundle_id} not found for unload request."))
        }
        _ => {
            if code == KOS_KEXT_RETURN_IN_USE {
                kernel_lines.push(format!(
                    "Can't unload kext {bundle_id}; classes have instances:"
                ));
                for (class, n) in instances.iter().filter(|(_, n)| *n > 0) {
                    kernel_lines.push(format!(
                        "    Kext {bundle_id} class {class} has {n} instance{}.",
                        if *n == 1 { "" } else { "s" }
                    ));
                }
            }
            kernel_lines.push(format!(
                "Can't remove kext {bundle_id}; kext failed to unload - {:#x}.",
                code as u32
            ));
        }
    }
    let mut stderr: String = kernel_lines
        .iter()
        .map(|l| format!("(kernel) {l}\n"))
        .collect();
    stderr.push_str(&format!(
        "Failed to unload {bundle_id} - {}.\n",
        mach_error_string(code)
    ));
    Output {
        status: EX_OSERR,
        stdout: String::new(),
        stderr,
    }
}

fn listing(kernel: &Kernel, kext: &Identity, bundle_id: Option<&str>) -> Output {
    let ours = kext.bundle_id;
    let mut stdout = format!("{LISTING_HEADER}\n");
    if kernel.bundle_loaded(ours) && bundle_id.is_none_or(|id| id == ours) {
        stdout.push_str(&format!(
            "  {:>3} {:>4} 0x{:<16x} 0x{:<8x} 0x{:<8x} {ours} ({}) {} <{}>\n",
            200,
            0,
            0xffff_ff7f_9a1b_2000_u64,
            0x5000,
            0x5000,
            env!("CARGO_PKG_VERSION"),
            "00000000-0000-0000-0000-000000000000",
            "8 6 5 3 1"
        ));
    }
    Output {
        status: 0,
        stdout,
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_options() {
        assert_eq!(bundle_option(&[], &["-b"]), Some(None));
        assert_eq!(bundle_option(&["-b", "x"], &["-b"]), Some(Some("x")));
        assert_eq!(
            bundle_option(&["--bundle-identifier=x"], &["-b", "--bundle-identifier"]),
            Some(Some("x"))
        );
        assert_eq!(bundle_option(&["-c", "x"], &["-b"]), None);
        assert_eq!(bundle_option(&["-b"], &["-b"]), None);
    }

    #[test]
    fn unload_outputs_quote_the_kernel_and_the_tool() {
        let id = "org.rustkext.RustKext";
        assert_eq!(unload_output(id, 0, &[]), Output::default());
        let refused = unload_output(id, KIO_RETURN_UNSUPPORTED, &[]);
        assert_eq!(refused.status, EX_OSERR);
        assert_eq!(
            refused.stderr,
            "(kernel) Can't remove kext org.rustkext.RustKext; services failed to terminate - 0xe00002c7.\n\
             Failed to unload org.rustkext.RustKext - (iokit/common) unsupported function.\n"
        );
        let in_use = unload_output(
            id,
            KOS_KEXT_RETURN_IN_USE,
            &[("org_rustkext_Service", 1), ("org_rustkext_UserClient", 0)],
        );
        assert_eq!(
            in_use.stderr,
            "(kernel) Can't unload kext org.rustkext.RustKext; classes have instances:\n\
             (kernel)     Kext org.rustkext.RustKext class org_rustkext_Service has 1 instance.\n\
             (kernel) Can't remove kext org.rustkext.RustKext; kext failed to unload - 0xdc008018.\n\
             Failed to unload org.rustkext.RustKext - (libkern/kext) kext is in use or retained (cannot unload).\n"
        );
        let gone = unload_output(id, KOS_KEXT_RETURN_NOT_FOUND, &[]);
        assert!(gone
            .stderr
            .starts_with("(kernel) Kext org.rustkext.RustKext not found for unload request.\n"));
        let user = unload_output(id, KOS_KEXT_RETURN_NOT_PRIVILEGED, &[]);
        assert_eq!(
            user.stderr,
            "Failed to unload org.rustkext.RustKext - (libkern/kext) not privileged.\n"
        );
    }

    #[test]
    fn error_strings_name_the_codes_the_harness_reads() {
        for code in [
            KIO_RETURN_UNSUPPORTED,
            KOS_KEXT_RETURN_IN_USE,
            KOS_KEXT_RETURN_NOT_FOUND,
        ] {
            assert!(mach_error_string(code).starts_with('('), "{code:#x}");
        }
    }
}
