//! The command line: exit status 0/1/2, the message on stderr, the output file.

mod support;

use std::process::Command;

use support::*;

fn kextld(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kextld")).args(args).output().unwrap()
}

#[test]
fn links_refuses_and_explains_usage() {
    let dir = scratch_dir("cli");
    let a = assemble(
        &dir,
        "a",
        "    .section __DATA,__data\n    .globl _kmod_info\n_kmod_info:\n    .quad _kernel_thing\n",
    );
    let out = dir.join("Kext");
    let a_str = a.to_str().unwrap();
    let o = kextld(&["-o", out.to_str().unwrap(), "-u", "_kmod_info", a_str]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 objects linked, 1 imports, 0 local + 1 external relocations"));
    let img = Image::parse(&std::fs::read(&out).unwrap());
    assert_eq!(img.filetype, 0xb);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o100, 0o100, "executable, as ld64 writes final images");
    }
    // A link error: status 1 and the reason.
    let o = kextld(&["-o", out.to_str().unwrap(), "-u", "_absent", a_str]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "kextld: error: required symbol(s) not defined by any input: _absent (a kext needs _kmod_info from its kmod glue)\n"
    );
    // Usage errors: status 2.
    for args in [&["-o"][..], &[a_str][..], &["-o", "x"][..], &["--bogus", a_str][..]] {
        let o = kextld(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage: kextld"), "{args:?}");
    }
}
