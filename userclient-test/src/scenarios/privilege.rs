//! A non-administrator may call the selectors its privilege allows under the service's
//! configuration (`Anyone`, and `Observer` ones such as GetStats when the personality sets
//! RustKextStatsForEveryone); the others are refused with kIOReturnNotPrivileged, given their
//! exact shape and valid inputs, and change nothing. Under RustKextAdminOnly the non-administrator's
//! open itself is refused with kIOReturnNotPrivileged. Which selectors, and their inputs, come from
//! the interface (table and `Wire::example`); the configuration from the service's registry
//! properties. File activity first, so that the counters are not zero and a refused ResetStats
//! that went through would show.

use super::bad_input::unchanged;
use super::{ensure, Ctx, Step, Stop};
use crate::backend::User;
use crate::client::table;
use crate::codes::{kIOReturnNotPrivileged, Code};
use crate::fileops::FileOp;
use rustkext_abi::conformance::Examples;
use rustkext_abi::Privilege;
use rustkext_monitor_api::{Monitor, SETTING_KEYS};

pub fn run(ctx: &Ctx<'_>) -> Step {
    ctx.require_admin()?;
    let settings = ctx.settings()?;
    // The non-administrator opens first: with RustKextMaxClients 1 the administrator's client
    // then takes the reserve, which the non-administrator cannot.
    let user = match ctx.open_as(User::NonAdmin) {
        Ok(_) if settings.admin_only_open => {
            return Err(Stop::Fail(format!(
                "a non-administrator was admitted although {} is set",
                SETTING_KEYS[1]
            )))
        }
        Ok(c) => c,
        Err(r) if settings.admin_only_open => {
            ensure!(
                r.code == kIOReturnNotPrivileged,
                "non-administrator open: {r}, expected {} ({} is set)",
                Code(kIOReturnNotPrivileged),
                SETTING_KEYS[1]
            );
            return Ok(format!(
                "open refused to a non-administrator with kIOReturnNotPrivileged ({} is set)",
                SETTING_KEYS[1]
            ));
        }
        Err(r) => return Err(r.into()),
    };
    let admin = ctx.open()?;
    let root = ctx.backend.file_root().map_err(Stop::Fail)?;
    let ops = [
        FileOp::MakeDir(root.clone()),
        FileOp::Write(root.join("p")),
        FileOp::Delete(root.join("p")),
        FileOp::RemoveDir(root),
    ];
    ctx.backend.file_ops(&ops).map_err(Stop::Fail)?;
    let before = admin.get_stats()?;
    ensure!(
        before.events.iter().sum::<u64>() > 0,
        "no FILEOP event counted after file activity: a reset could not show"
    );
    let mut served = Vec::new();
    let mut refused = Vec::new();
    for (selector, entry) in (0u32..).zip(table()) {
        let (scalars, bytes) = <dyn Monitor as Examples>::examples(selector);
        if entry
            .privilege
            .allows(false, settings.observers_for_everyone)
        {
            // Only queries: a method the user may call that changes state is not called.
            if entry.query {
                user.call_exact(selector, &scalars, &bytes)?;
                served.push(entry.name);
            }
            continue;
        }
        match user.call_exact(selector, &scalars, &bytes) {
            Ok(_) => {
                return Err(Stop::Fail(format!(
                    "{} succeeded for a non-administrator",
                    entry.name
                )))
            }
            Err(r) => ensure!(
                r.code == kIOReturnNotPrivileged,
                "{r}, expected {}",
                Code(kIOReturnNotPrivileged)
            ),
        }
        refused.push(entry.name);
    }
    ensure!(
        user.ping(1)? == 2,
        "Ping from a non-administrator answered wrongly"
    );
    let after = admin.get_stats()?;
    unchanged(ctx, &before, &after)?;
    let observers = table().iter().any(|e| e.privilege == Privilege::Observer);
    Ok(format!(
        "non-administrator{}: {} served; {} refused with kIOReturnNotPrivileged; Stats ({} events) unchanged",
        if observers && settings.observers_for_everyone { format!(" ({} is set)", SETTING_KEYS[2]) } else { String::new() },
        served.join(", "),
        refused.join(", "),
        before.events.iter().sum::<u64>()
    ))
}
