//! kext-sign: ad-hoc signs a kext bundle in place with the `apple-codesign` crate, as
//! `codesign --force --sign - <bundle>` does on macOS: the Mach-O gets an embedded signature
//! (LC_CODE_SIGNATURE, a code directory with no certificate) and the bundle its resource seal,
//! `Contents/_CodeSignature/CodeResources`.
//!
//! Then it reads the executable back and checks the code directory's page digests (the binding of
//! Info.plist is not checked here: that needs the bundle-aware verifier macOS has).
//!
//! Usage: kext-sign [--verify] <bundle.kext>   (--verify: only the check)

use std::path::Path;
use std::process::ExitCode;

use apple_codesign::{verify_macho_data, VerificationProblemType};
use apple_codesign::{SigningSettings, UnifiedSigner};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (verify_only, bundle) = match args.as_slice() {
        [flag, bundle] if flag == "--verify" => (true, bundle),
        [bundle] if !bundle.starts_with('-') => (false, bundle),
        _ => {
            eprintln!("usage: kext-sign [--verify] <bundle.kext>");
            return ExitCode::from(2);
        }
    };
    let path = Path::new(bundle);
    if !path.join("Contents/Info.plist").is_file() {
        eprintln!("kext-sign: {bundle}: not a bundle (no Contents/Info.plist)");
        return ExitCode::from(2);
    }
    // No signing key in the settings: apple-codesign writes an ad-hoc signature.
    let signer = UnifiedSigner::new(SigningSettings::default());
    if verify_only {
        // nothing to sign
    } else if let Err(e) = signer.sign_path_in_place(path) {
        eprintln!("kext-sign: signing {bundle} failed: {e}");
        return ExitCode::from(1);
    }
    // Read the executable back: every code page and special slot digest must match. An ad-hoc
    // signature has no usable CMS signature (apple-codesign writes an empty blob): the only
    // problems expected.
    let macos = path.join("Contents/MacOS");
    let executables: Vec<_> = std::fs::read_dir(&macos).into_iter().flatten().flatten().map(|e| e.path()).collect();
    let [executable] = executables.as_slice() else {
        eprintln!("kext-sign: {}: expected exactly one executable", macos.display());
        return ExitCode::from(1);
    };
    let data = match std::fs::read(executable) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kext-sign: {}: {e}", executable.display());
            return ExitCode::from(1);
        }
    };
    let problems: Vec<_> = verify_macho_data(&data)
        .into_iter()
        .filter(|p| !matches!(p.problem, VerificationProblemType::NoCryptographicSignature | VerificationProblemType::CmsError(_)))
        .collect();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("kext-sign: verification: {p}");
        }
        return ExitCode::from(1);
    }
    let what = if verify_only { "verified" } else { "ad-hoc signed and verified" };
    println!("kext-sign: {bundle}: {what} ({}: every code page digest of the code directory matches)", executable.display());
    ExitCode::SUCCESS
}
