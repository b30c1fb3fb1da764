//! A non-administrator may call the selectors open to anyone; the others (`Admin` methods, and
//! `Observer` ones such as GetStats unless the personality sets RustKextStatsForEveryone) are
//! refused with kIOReturnNotPrivileged, given their exact shape and valid inputs, and change
//! nothing. Which ones, and their inputs, come from the interface (table and `Wire::example`).

use super::bad_input::unchanged;
use super::{ensure, Ctx, Step, Stop};
use crate::backend::User;
use crate::client::table;
use crate::codes::{kIOReturnNotPrivileged, Code};
use rustkext_abi::conformance::Examples;
use rustkext_abi::Privilege;
use rustkext_monitor_api::Monitor;

pub fn run(ctx: &Ctx<'_>) -> Step {
    ctx.require_admin()?;
    let admin = ctx.open()?;
    let user = match ctx.open_as(User::NonAdmin) {
        Ok(c) => c,
        Err(r) if r.code == kIOReturnNotPrivileged => {
            return Ok("open refused to a non-administrator (RustKextAdminOnly is set)".into())
        }
        Err(r) => return Err(r.into()),
    };
    let before = admin.get_stats()?;
    let mut served = Vec::new();
    let mut refused = Vec::new();
    for (selector, entry) in (0u32..).zip(table()) {
        let (scalars, bytes) = <dyn Monitor as Examples>::examples(selector);
        if entry.privilege == Privilege::Anyone {
            if entry.query {
                user.call_exact(selector, &scalars, &bytes)?;
                served.push(entry.name);
            }
            continue;
        }
        match user.call_exact(selector, &scalars, &bytes) {
            Ok(_) => return Err(Stop::Fail(format!("{} succeeded for a non-administrator", entry.name))),
            Err(r) => ensure!(r.code == kIOReturnNotPrivileged, "{r}, expected {}", Code(kIOReturnNotPrivileged)),
        }
        refused.push(entry.name);
    }
    ensure!(user.ping(1)? == 2, "Ping from a non-administrator answered wrongly");
    let after = admin.get_stats()?;
    unchanged(ctx, &before, &after)?;
    Ok(format!(
        "non-administrator: {} served; {} refused with kIOReturnNotPrivileged; Stats unchanged",
        served.join(", "),
        refused.join(", ")
    ))
}
