//! A non-administrator may call the selectors open to anyone; the others (the administrator
//! selectors, and GetStats unless the personality sets RustKextStatsForEveryone) are refused with
//! kIOReturnNotPrivileged and change nothing.

use super::bad_input::unchanged;
use super::{ensure, Ctx, Step, Stop};
use crate::backend::User;
use crate::client::{selector_name, FilterBuf};
use crate::codes::{kIOReturnNotPrivileged, Code};
use rustkext::abi::Selector;

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
    let before = admin.stats()?;
    ensure!(
        user.ping(1)? == 2,
        "Ping from a non-administrator answered wrongly"
    );
    user.version()?;
    user.client_info()?;

    let everything = FilterBuf::new("/").map_err(Stop::Fail)?;
    let mut refused = Vec::new();
    for selector in Selector::ALL.into_iter().filter(|s| s.requires_admin()) {
        let input: &[u8] = if selector == Selector::SetPathFilter {
            everything.bytes()
        } else {
            &[]
        };
        match user.call_exact(selector, &[], input) {
            Ok(_) => {
                return Err(Stop::Fail(format!(
                    "{} succeeded for a non-administrator",
                    selector_name(selector)
                )))
            }
            Err(r) => ensure!(
                r.code == kIOReturnNotPrivileged,
                "{r}, expected {}",
                Code(kIOReturnNotPrivileged)
            ),
        }
        refused.push(selector_name(selector));
    }
    let after = admin.stats()?;
    unchanged(ctx, &before, &after)?;
    Ok(format!(
        "non-administrator: Ping, GetVersion, GetClientInfo served; {} refused with kIOReturnNotPrivileged; Stats unchanged",
        refused.join(", ")
    ))
}
