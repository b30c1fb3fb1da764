//! Unload while clients are open (refused, driver keeps serving), and the automatic unload after
//! the last close that follows a refused unload.

use super::{ensure, poll, Ctx, Step, Stop};
use crate::backend::{UnloadAnswer, User};
use crate::client::ClientInfo;
use crate::codes::{kIOReturnNotPermitted, kIOReturnNotPrivileged, kIOReturnUnsupported, Code};
use std::time::Duration;

/// How long a rematch is given to start the service or load the kext, if it were going to.
const REMATCH_SETTLE: Duration = Duration::from_secs(10);
/// How often to look whether the service terminated itself after the last close.
const SELF_TERMINATE_POLL: Duration = Duration::from_millis(100);

fn describe(answer: &UnloadAnswer) -> String {
    match answer.code {
        Some(code) => Code(code).to_string(),
        None => "no code".into(),
    }
}

/// Asks for an unload that must be refused with kIOReturnUnsupported, the kext staying loaded.
fn refused_unload(ctx: &Ctx<'_>) -> Step<UnloadAnswer> {
    let answer = ctx.backend.request_unload().map_err(Stop::Fail)?;
    if let Some(code) = answer.code {
        ctx.seen.note(code);
    }
    ensure!(
        !answer.unloaded,
        "the kext unloaded with clients open ({}) {}",
        describe(&answer),
        answer.text.trim()
    );
    ensure!(
        answer.code == Some(kIOReturnUnsupported),
        "unload refused with {}, expected {}: {}",
        describe(&answer),
        Code(kIOReturnUnsupported),
        answer.text.trim()
    );
    ensure!(
        ctx.backend.is_loaded().map_err(Stop::Fail)?,
        "the kext is no longer loaded after a refused unload"
    );
    Ok(answer)
}

pub fn refused(ctx: &Ctx<'_>) -> Step {
    ctx.require_admin()?;
    let first = ctx.open()?;
    let second = ctx.open()?;
    refused_unload(ctx)?;

    ensure!(
        first.ping(99)? == 100,
        "Ping after the refused unload answered wrongly"
    );
    let info = ClientInfo::from(second.get_client_info()?);
    ensure!(
        info.unload_pending,
        "GetClientInfo does not report the pending unload"
    );
    match ctx.open_as(User::NonAdmin) {
        Ok(_) => {
            return Err(Stop::Fail(
                "a non-administrator was admitted while the unload is pending".into(),
            ))
        }
        Err(r) => ensure!(
            r.code == kIOReturnNotPermitted || r.code == kIOReturnNotPrivileged,
            "non-administrator open while unload pending: {r}, expected {}",
            Code(kIOReturnNotPermitted)
        ),
    }
    // Root is never locked out: it opens while the unload is pending, and cancels it.
    let root = ctx.open()?;
    ensure!(
        ClientInfo::from(root.get_client_info()?).unload_pending,
        "the administrator's client does not see the pending unload"
    );
    root.cancel_unload()?;
    ensure!(
        !ClientInfo::from(second.get_client_info()?).unload_pending,
        "CancelUnload left the unload pending"
    );
    let third = ctx.open()?;
    ensure!(
        third.ping(1)? == 2,
        "a client opened after CancelUnload does not serve"
    );
    drop(first);
    Ok(format!(
        "unload refused with {} while {} clients were open; kext still loaded and serving; non-administrators refused with kIOReturnNotPermitted, an administrator opened and cancelled the unload",
        Code(kIOReturnUnsupported),
        info.open_clients
    ))
}

pub fn autounload(ctx: &Ctx<'_>) -> Step {
    ctx.require_admin()?;
    let last = ctx.open()?;
    let others = ClientInfo::from(last.get_client_info()?)
        .open_clients
        .saturating_sub(1);
    ensure!(
        others == 0,
        "{others} other clients are open; close them (hold-open, other tools) first"
    );
    refused_unload(ctx)?;
    ensure!(
        ClientInfo::from(last.get_client_info()?).unload_pending,
        "GetClientInfo does not report the pending unload"
    );

    let closed = last.close();
    // The service terminates itself (from a thread call) after the last close.
    let mut present = Ok(true);
    let bound = ctx.opts.cleanup_bound;
    let mut progress = ctx.waiting("the service to terminate itself");
    let terminated = poll(bound, SELF_TERMINATE_POLL, &mut progress, || {
        present = ctx.backend.service_present();
        (present == Ok(false)).then_some(())
    });
    ensure!(
        terminated.is_some(),
        "last client closed ({}), but the service did not terminate itself within {bound:?} ({present:?})",
        Code(closed)
    );
    // Between the self-termination and the autounload, a rematch of IOResources (screen lock,
    // console users, another kext) must not start the service again in the still-loaded kext.
    ctx.backend
        .rematch_resources(REMATCH_SETTLE)
        .map_err(Stop::Fail)?;
    ensure!(
        !ctx.backend.service_present().map_err(Stop::Fail)?,
        "a rematch of IOResources started the service again after it terminated itself"
    );
    let bound = ctx.opts.unload_bound;
    let took = ctx
        .backend
        .wait_unloaded(bound, &mut ctx.waiting("the kext to unload (autounload)"))
        .map_err(|why| {
            Stop::Fail(format!(
                "last client closed ({}), but the kext did not unload within {bound:?}: {why}",
                Code(closed)
            ))
        })?;
    // And after it: the kernel must not load the (installed) kext again for its personality.
    ctx.backend
        .rematch_resources(REMATCH_SETTLE)
        .map_err(Stop::Fail)?;
    ensure!(
        !ctx.backend.is_loaded().map_err(Stop::Fail)?,
        "the kext was loaded again after a rematch of IOResources"
    );
    Ok(format!(
        "unload refused with {} while 1 client was open; after the last close the kext unloaded by itself in {:.0} s{}, and stayed unloaded through a rematch of IOResources",
        Code(kIOReturnUnsupported),
        took.as_secs_f64(),
        if ctx.backend.name() == "sim" { " (simulated time, busy desktop on)" } else { "" }
    ))
}
