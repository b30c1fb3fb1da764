//! `rustkext new BUNDLE_ID DIR [--framework CHECKOUT] [--member]`: a new kext from the templates
//! (framework/templates, embedded here so that the command works offline and is versioned with
//! the framework). The result builds for both kernel targets (`./build.sh`) and passes its
//! generated tests on xnu-sim (`cargo test`) as written; `./test.sh` of the framework checks that
//! on every run.
//!
//! `--member` writes the crates only, for a kext inside another workspace (this repository's
//! `examples/`): no workspace manifest, no lock file; add the four crates to that workspace.

use std::path::{Component, Path, PathBuf};

use crate::identity::{default_class_prefix, valid_bundle_id, Identity};

/// Every template and where it goes; `.tmpl` files are rendered, the path is relative to DIR.
const TEMPLATES: &[(&str, &str)] = &[
    ("rustkext.toml", include_str!("../../templates/rustkext.toml.tmpl")),
    ("build.sh", include_str!("../../templates/build.sh.tmpl")),
    ("README.md", include_str!("../../templates/README.md.tmpl")),
    ("api/Cargo.toml", include_str!("../../templates/api/Cargo.toml.tmpl")),
    ("api/build.rs", include_str!("../../templates/api/build.rs.tmpl")),
    ("api/src/lib.rs", include_str!("../../templates/api/src/lib.rs.tmpl")),
    ("driver/Cargo.toml", include_str!("../../templates/driver/Cargo.toml.tmpl")),
    ("driver/src/lib.rs", include_str!("../../templates/driver/src/lib.rs.tmpl")),
    ("glue/Cargo.toml", include_str!("../../templates/glue/Cargo.toml.tmpl")),
    ("glue/build.rs", include_str!("../../templates/glue/build.rs.tmpl")),
    ("glue/src/lib.rs", include_str!("../../templates/glue/src/lib.rs.tmpl")),
    ("glue/tests/sim.rs", include_str!("../../templates/glue/tests/sim.rs.tmpl")),
    ("cli/Cargo.toml", include_str!("../../templates/cli/Cargo.toml.tmpl")),
    ("cli/src/main.rs", include_str!("../../templates/cli/src/main.rs.tmpl")),
];

/// Written only for a kext that is its own workspace.
const WORKSPACE_TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/Cargo.toml.tmpl")),
    (".gitignore", include_str!("../../templates/gitignore.tmpl")),
];

/// What the templates are filled in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// `com.example.OpenWatch`.
    pub bundle_id: String,
    /// `OpenWatch`: the last label (CFBundleName, the interface trait, the log prefix).
    pub name: String,
    /// `openwatch`: the crates' prefix.
    pub crate_name: String,
    /// `com_example_OpenWatch`.
    pub class_prefix: String,
}

impl Names {
    /// The names of a kext with `bundle_id`; its last label must start with a letter and be
    /// letters and digits only (it names a Rust trait and a C++ class).
    pub fn of(bundle_id: &str) -> Result<Names, String> {
        if !valid_bundle_id(bundle_id) || bundle_id.starts_with("com.apple.") {
            return Err(format!(
                "{bundle_id:?} is not a bundle id a kext may have (reverse-DNS, at most 63 bytes, not com.apple.)"
            ));
        }
        let name = bundle_id.rsplit('.').next().unwrap_or_default().to_string();
        let mut chars = name.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) || !chars.all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "the last label of {bundle_id:?} ({name:?}) names the kext, its trait and its classes: letters and digits, a letter first"
            ));
        }
        Ok(Names {
            bundle_id: bundle_id.to_string(),
            crate_name: name.to_ascii_lowercase(),
            class_prefix: default_class_prefix(bundle_id),
            name,
        })
    }
}

/// `path` relative to `base` when it lies inside `base`'s tree ancestors allow it (both absolute).
fn relative(path: &Path, from: &Path) -> Option<PathBuf> {
    let path: Vec<Component> = path.components().collect();
    let from: Vec<Component> = from.components().collect();
    let common = path.iter().zip(&from).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &path[common..] {
        out.push(c.as_os_str());
    }
    Some(out)
}

fn render(template: &str, names: &Names, framework: &str) -> String {
    template
        .replace("{{bundle_id}}", &names.bundle_id)
        .replace("{{name}}", &names.name)
        .replace("{{crate_ident}}", &names.crate_name)
        .replace("{{crate}}", &names.crate_name)
        .replace("{{class_prefix}}", &names.class_prefix)
        .replace("{{framework}}", framework)
        .replace("{{version}}", "0.1.0")
}

/// Writes a new kext into `dir` (which must not exist or be empty). `framework`: the checkout
/// the kext builds with; `member`: no workspace files. The kext's `rustkext.toml` is validated
/// before anything is written.
pub fn create(bundle_id: &str, dir: &Path, framework: &Path, member: bool) -> Result<Names, String> {
    let names = Names::of(bundle_id)?;
    if dir.exists() && dir.read_dir().map_err(|e| format!("{}: {e}", dir.display()))?.next().is_some() {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let framework = framework.canonicalize().map_err(|e| format!("{}: {e}", framework.display()))?;
    // Inside the checkout (examples/): relative paths, so that the repository can move.
    let framework_path = match dir.starts_with(&framework) {
        true => relative(&framework, &dir).unwrap_or_else(|| framework.clone()),
        false => framework.clone(),
    };
    let framework_path = framework_path.display().to_string();
    // Each crate sits one level down: its path to the framework is one more `..` when relative.
    let crate_framework = match Path::new(&framework_path).is_absolute() {
        true => framework_path.clone(),
        false => format!("../{framework_path}"),
    };
    Identity::parse(&dir, &render(TEMPLATES[0].1, &names, &framework_path)).map_err(|e| e.to_string())?;
    let files = TEMPLATES.iter().chain(if member { &[][..] } else { WORKSPACE_TEMPLATES });
    for (path, template) in files {
        let framework = if path.contains('/') { &crate_framework } else { &framework_path };
        let out = dir.join(path);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&out, render(template, &names, framework)).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    set_executable(&dir.join("build.sh"))?;
    if !member {
        // The framework's lock file: the same dependency versions, so a build that shares the
        // framework's target directory reuses what is built there (cargo prunes the rest).
        let lock = framework.join("Cargo.lock");
        std::fs::copy(&lock, dir.join("Cargo.lock")).map_err(|e| format!("{}: {e}", lock.display()))?;
    }
    Ok(names)
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<(), String> {
    Ok(())
}

/// `rustkext new BUNDLE_ID DIR [--framework CHECKOUT] [--member]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut positional = Vec::new();
    let mut framework = crate::framework_root();
    let mut member = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--framework" => framework = PathBuf::from(it.next().ok_or("--framework needs a directory")?),
            "--member" => member = true,
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other => positional.push(other.to_string()),
        }
    }
    let [bundle_id, dir] = &positional[..] else {
        return Err("usage: rustkext new BUNDLE_ID DIR [--framework CHECKOUT] [--member]".into());
    };
    let names = create(bundle_id, Path::new(dir), &framework, member)?;
    let c = &names.crate_name;
    println!("created {} ({}) in {dir}", names.name, names.bundle_id);
    if member {
        println!("add its crates to your workspace: {dir}/api, {dir}/driver, {dir}/glue, {dir}/cli");
    }
    println!("  cd {dir} && ./build.sh          # kernel objects for x86_64 and arm64e, checked");
    println!("  cargo test -p {c}-driver -p {c}-api && cargo test -p {c}-kext   # the driver; the kext on xnu-sim");
    println!("  cargo run -p {c}-cli -- status  # the CLI on the simulator");
    println!("  cargo run -p {c}-cli -- --iokit status  # through IOKit.framework (the loaded kext on a Mac)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_bundle_id() {
        let n = Names::of("com.example.OpenWatch").unwrap();
        assert_eq!((n.name.as_str(), n.crate_name.as_str(), n.class_prefix.as_str()), ("OpenWatch", "openwatch", "com_example_OpenWatch"));
        assert!(Names::of("com.apple.Thing").is_err());
        assert!(Names::of("com.example.open-watch").is_err(), "not an identifier");
        assert!(Names::of("com.example.9lives").is_err());
        assert!(Names::of("Thing").is_err());
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/examples/x")), Some(PathBuf::from("../..")));
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/c")), Some(PathBuf::from("../b")));
    }

    #[test]
    fn every_template_renders_every_placeholder() {
        let names = Names::of("com.example.OpenWatch").unwrap();
        for (path, template) in TEMPLATES.iter().chain(WORKSPACE_TEMPLATES) {
            let out = render(template, &names, "/fw");
            assert!(!out.contains("{{"), "{path}: an unknown placeholder left");
        }
        let toml = render(TEMPLATES[0].1, &names, "/fw");
        let id = Identity::parse(Path::new("/k"), &toml).unwrap();
        assert_eq!(id.service_class(), "com_example_OpenWatch_Service");
        assert_eq!(id.settings.max_clients.as_deref(), Some("OpenWatchMaxClients"));
    }
}
