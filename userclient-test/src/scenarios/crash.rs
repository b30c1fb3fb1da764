//! A process holding a client dies without closing it: the kernel's clientDied path must close
//! the client, and the count must drop.

use super::{ensure, poll, Ctx, Step, Stop};
use crate::client::ClientInfo;
use std::time::{Duration, Instant};

pub fn run(ctx: &Ctx<'_>) -> Step {
    let observer = ctx.open()?;
    let base = ClientInfo::from(observer.get_client_info()?).open_clients;
    let holder = ctx.backend.spawn_holder().map_err(Stop::Fail)?;
    let held = ClientInfo::from(observer.get_client_info()?).open_clients;
    if held != base + 1 {
        let _ = ctx.backend.kill_holder(holder);
        return Err(Stop::Fail(format!(
            "holder open, but open clients {held}, expected {}",
            base + 1
        )));
    }
    let killed = Instant::now();
    ctx.backend.kill_holder(holder).map_err(Stop::Fail)?;
    let bound = ctx.opts.cleanup_bound;
    let mut progress = ctx.waiting("the client count to drop after the kill");
    let dropped = poll(bound, Duration::from_millis(20), &mut progress, || {
        let n = observer.get_client_info().ok().map(ClientInfo::from)?.open_clients;
        (n == base).then_some(n)
    });
    let now = ClientInfo::from(observer.get_client_info()?).open_clients;
    ensure!(
        dropped.is_some(),
        "open clients still {now} {bound:?} after the holder was killed (expected {base})"
    );
    Ok(format!(
        "holder opened (open clients {base} -> {held}), killed; back to {base} after {} ms",
        killed.elapsed().as_millis()
    ))
}
