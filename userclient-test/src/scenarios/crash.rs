//! A process holding a client dies without closing it: the kernel's clientDied path must close
//! the client, and the count must drop. The count is read from the service's registry
//! properties (`ClientsOpen`), so the scenario needs no client of its own: it runs whatever room
//! the configuration leaves (`RustKextMaxClients` 1 included).

use super::{ensure, poll, Ctx, Step, Stop};
use std::time::{Duration, Instant};

pub fn run(ctx: &Ctx<'_>) -> Step {
    let settings = ctx.require_open()?;
    let base = ctx.clients_open()?;
    let room = ctx.room(&settings);
    if base >= room {
        return Err(Stop::Skip(format!(
            "{base} clients open leave no room for a holder (the table admits {room}); close some first"
        )));
    }
    let holder = ctx.backend.spawn_holder().map_err(Stop::Fail)?;
    let held = ctx.clients_open();
    if held.as_ref().ok() != Some(&(base + 1)) {
        let _ = ctx.backend.kill_holder(holder);
        return Err(Stop::Fail(format!(
            "holder open, but open clients {held:?}, expected {}",
            base + 1
        )));
    }
    let killed = Instant::now();
    ctx.backend.kill_holder(holder).map_err(Stop::Fail)?;
    let bound = ctx.opts.cleanup_bound;
    let mut progress = ctx.waiting("the client count to drop");
    let dropped = poll(bound, Duration::from_millis(20), &mut progress, || {
        (ctx.clients_open().ok()? == base).then_some(())
    });
    let now = ctx.clients_open()?;
    ensure!(
        dropped.is_some(),
        "open clients still {now} {bound:?} after the holder was killed (expected {base})"
    );
    Ok(format!(
        "holder opened (open clients {base} -> {}, read from the registry), killed; back to {base} after {} ms",
        base + 1,
        killed.elapsed().as_millis()
    ))
}
