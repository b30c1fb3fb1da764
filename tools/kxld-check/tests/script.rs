//! kxld-check.sh's argument handling (`--dry-run`), including the macOS paths that cannot run
//! here: a Mac-built kext binary with its Info.plist, and a real kernel + KPI pseudo-kexts
//! instead of the model. No xnu tree or Apple header is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kxld-check.sh")
}

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("kxld-check-script-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["RustKext.kext/Contents/MacOS", "headers/IOKit", "PlugIns/IOKit.kext", "xnu"] {
            std::fs::create_dir_all(dir.join(d)).unwrap_or_else(|e| panic!("{e}"));
        }
        let plist = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\n\t<key>CFBundleExecutable</key>\n\t<string>RustKext</string>\n</dict></plist>\n";
        for (f, text) in [
            ("RustKext.kext/Contents/Info.plist", plist),
            ("RustKext.kext/Contents/MacOS/RustKext", "binary"),
            ("x86_64-RustKext", "binary"),
            ("Info.plist", plist),
            ("headers/IOKit/IOService.h", "// stand-in"),
            ("kernel", "stand-in"),
        ] {
            std::fs::write(dir.join(f), text).unwrap_or_else(|e| panic!("{e}"));
        }
        Fixture { dir }
    }

    fn run(&self, env: &[(&str, String)], args: &[String]) -> (bool, String) {
        let mut c = Command::new("bash");
        c.arg(script()).arg("--dry-run").args(args).env_remove("XNU_SOURCE").env_remove("KERNEL_HEADERS");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap_or_else(|e| panic!("bash: {e}"));
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }

    fn p(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_bundle_against_the_model() {
    let f = Fixture::new("bundle");
    let env = [("XNU_SOURCE", f.p("xnu")), ("KERNEL_HEADERS", f.p("headers"))];
    let (ok, out) = f.run(&env, &["--kext".into(), f.p("RustKext.kext")]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("kext binary: {}", f.p("RustKext.kext/Contents/MacOS/RustKext"))), "{out}");
    assert!(out.contains(&format!("kext Info.plist: {}", f.p("RustKext.kext/Contents/Info.plist"))), "{out}");
    assert!(out.contains("kernel (model): ") && out.contains("build/kxld-check/model/kernel"), "{out}");
}

#[test]
fn a_mac_built_binary_against_a_real_kernel() {
    let f = Fixture::new("mac");
    let env = [("XNU_SOURCE", f.p("xnu"))]; // no KERNEL_HEADERS: the real kernel needs none
    let args = ["--kext", &f.p("x86_64-RustKext"), "--plist", &f.p("Info.plist"), "--kernel", &f.p("kernel"), "--plugins", &f.p("PlugIns"), "--negative"];
    let (ok, out) = f.run(&env, &args.map(String::from));
    assert!(ok, "{out}");
    assert!(out.contains(&format!("kext binary: {}", f.p("x86_64-RustKext"))), "{out}");
    assert!(out.contains(&format!("kext Info.plist: {}", f.p("Info.plist"))), "{out}");
    assert!(out.contains(&format!("kernel (real): {}", f.p("kernel"))), "{out}");
    assert!(out.contains(&format!("KPI pseudo-kexts (real): {}", f.p("PlugIns"))), "{out}");
    assert!(out.contains("negative tests: yes"), "{out}");
}

#[test]
fn refuses_what_cannot_work() {
    let f = Fixture::new("bad");
    let xnu = ("XNU_SOURCE", f.p("xnu"));
    let hdr = ("KERNEL_HEADERS", f.p("headers"));
    let kext = ["--kext".to_string(), f.p("RustKext.kext")];
    type Case<'a> = (Vec<(&'a str, String)>, Vec<String>, &'a str); // env, arguments, message
    let cases: Vec<Case<'_>> = vec![
        (vec![hdr.clone()], kext.to_vec(), "XNU_SOURCE is not set"),
        (vec![xnu.clone()], kext.to_vec(), "KERNEL_HEADERS is not set"),
        (vec![xnu.clone(), hdr.clone()], vec!["--kext".into(), f.p("nothing-here")], "no kext at"),
        (vec![xnu.clone(), hdr.clone()], [&kext[..], &["--kernel".into(), f.p("kernel")]].concat(), "--kernel and --plugins go together"),
        (vec![xnu.clone()], [&kext[..], &["--kernel".into(), f.p("nope"), "--plugins".into(), f.p("PlugIns")]].concat(), "no kernel at"),
        (vec![xnu.clone(), hdr.clone()], vec!["--kext".into(), f.p("x86_64-RustKext"), "--plist".into(), f.p("missing.plist")], "no Info.plist at"),
        (vec![("XNU_SOURCE", f.p("no-xnu")), hdr.clone()], kext.to_vec(), "does not exist"),
        (vec![xnu, hdr], vec!["--frobnicate".into()], "unknown option --frobnicate"),
    ];
    for (env, args, message) in cases {
        let (ok, out) = f.run(&env, &args);
        assert!(!ok, "{args:?} must be refused: {out}");
        assert!(out.contains(message), "{args:?}: expected {message:?} in {out}");
    }
}
