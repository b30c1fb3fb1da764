//! `rustkext new`: a new kext from the templates (framework/templates). Not yet: the next commit.

/// `rustkext new BUNDLE_ID DIR`.
pub fn run(_args: &[String]) -> Result<(), String> {
    Err("`rustkext new` is not there yet".into())
}
