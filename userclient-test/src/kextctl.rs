//! The kext tools (`kmutil` on macOS 11 and later, `kextunload`/`kextstat` before): running them
//! and reading their answers. Plain `std`, so the parsing is tested everywhere.

use crate::backend::UnloadAnswer;
use crate::codes::find_in_text;
use std::path::PathBuf;
use std::process::Command;

/// Where sudo's default `secure_path` and macOS keep the tools, searched after `PATH`.
const SYSTEM_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/sbin", "/bin"];

/// Where the tools are looked for: `PATH`, then the system directories.
pub fn search_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .collect()
}

/// The command that unloads `bundle_id`: `kmutil unload -b`, or `kextunload -b` without kmutil.
pub fn unload_command(dirs: &[PathBuf], bundle_id: &str) -> Result<Command, String> {
    tool_command(
        dirs,
        &[("kmutil", &["unload", "-b"]), ("kextunload", &["-b"])],
        bundle_id,
    )
}

/// The command that lists `bundle_id` if loaded: `kmutil showloaded --bundle-identifier`, or
/// `kextstat -b`.
pub fn showloaded_command(dirs: &[PathBuf], bundle_id: &str) -> Result<Command, String> {
    let choices: &[(&str, &[&str])] = &[
        ("kmutil", &["showloaded", "--bundle-identifier"]),
        ("kextstat", &["-b"]),
    ];
    tool_command(dirs, choices, bundle_id)
}

/// The first of `choices` found in `dirs`, with its arguments and `bundle_id`.
fn tool_command(
    dirs: &[PathBuf],
    choices: &[(&str, &[&str])],
    bundle_id: &str,
) -> Result<Command, String> {
    for (tool, args) in choices {
        if let Some(path) = dirs.iter().map(|d| d.join(tool)).find(|p| p.is_file()) {
            let mut cmd = Command::new(path);
            cmd.args(*args).arg(bundle_id);
            return Ok(cmd);
        }
    }
    let names: Vec<&str> = choices.iter().map(|(t, _)| *t).collect();
    Err(format!("none of {names:?} found"))
}

/// Runs a command; its exit status and everything it printed (stdout, then stderr).
pub fn run(mut cmd: Command) -> Result<(bool, String, String), String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.success(), stdout, stderr))
}

/// The unload tool's answer: success from its exit status, the code from its text.
pub fn unload_answer(exit_ok: bool, stdout: &str, stderr: &str) -> UnloadAnswer {
    let text = format!("{stdout}{stderr}");
    UnloadAnswer {
        unloaded: exit_ok,
        code: find_in_text(&text),
        text,
    }
}

/// Whether `showloaded`/`kextstat` output lists `bundle_id` (a whole word of a line; the
/// header and other kexts never are).
pub fn lists_bundle(stdout: &str, bundle_id: &str) -> bool {
    stdout
        .lines()
        .any(|line| line.split_whitespace().any(|word| word == bundle_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::kIOReturnUnsupported;

    const ID: &str = "org.rustkext.RustKext";

    #[test]
    fn loaded_only_when_listed() {
        let header = "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n";
        let listed = format!("{header}  187    0 0xffffff7f9a1b2000 0x5000     0x5000     {ID} (1.0.0) 1C2D… <8 6 5 3 1>\n");
        assert!(lists_bundle(&listed, ID));
        assert!(!lists_bundle(header, ID));
        assert!(!lists_bundle(
            &listed.replace(ID, "org.rustkext.RustKextOther"),
            ID
        ));
    }

    /// A stand-in `name` in a fresh directory: prints its arguments, then `text`, exits `status`.
    fn fake_tool(name: &str, text: &str, status: i32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "uct-kextctl-{}-{name}-{status}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join(name);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"args: $*\"\ncat >&2 <<'END'\n{text}\nEND\nexit {status}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn unload_runs_kmutil_or_kextunload_and_reads_the_answer() {
        let dir = fake_tool(
            "kmutil",
            "(kernel) Can't remove kext org.rustkext.RustKext; services failed to terminate - 0xe00002c7.",
            71,
        );
        let (ok, stdout, stderr) =
            run(unload_command(std::slice::from_ref(&dir), ID).unwrap()).unwrap();
        assert_eq!(stdout, format!("args: unload -b {ID}\n"));
        let answer = unload_answer(ok, &stdout, &stderr);
        assert!(!answer.unloaded);
        assert_eq!(answer.code, Some(kIOReturnUnsupported));
        let (_, listed, _) =
            run(showloaded_command(std::slice::from_ref(&dir), ID).unwrap()).unwrap();
        assert_eq!(
            listed,
            format!("args: showloaded --bundle-identifier {ID}\n")
        );
        std::fs::remove_dir_all(dir).unwrap();

        // One test, so that no other thread forks while a script is being written (ETXTBSY).
        let dir = fake_tool("kextunload", "", 0);
        std::fs::copy(dir.join("kextunload"), dir.join("kextstat")).unwrap();
        let (ok, stdout, _) = run(unload_command(std::slice::from_ref(&dir), ID).unwrap()).unwrap();
        assert!(ok);
        assert_eq!(stdout, format!("args: -b {ID}\n"));
        let (_, listed, _) =
            run(showloaded_command(std::slice::from_ref(&dir), ID).unwrap()).unwrap();
        assert_eq!(listed, format!("args: -b {ID}\n"));
        assert!(unload_command(&[PathBuf::from("/nonexistent")], ID).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refused_unload_is_read_from_the_text() {
        let answer = unload_answer(
            false,
            "",
            "(kernel) Can't remove kext org.rustkext.RustKext; services failed to terminate - 0xe00002c7.\n",
        );
        assert!(!answer.unloaded);
        assert_eq!(answer.code, Some(kIOReturnUnsupported));
    }
}
