//! Opening and closing: one client, then the whole client table.

use super::{ensure, Ctx, Step};
use crate::backend::User;
use crate::client::Client;
use crate::codes::{kIOReturnBadArgument, kIOReturnNoResources, kIOReturnSuccess, Code};
use rustkext::abi::{
    ABI_VERSION_MAJOR, ABI_VERSION_MINOR, ABI_VERSION_PATCH, ADMIN_RESERVED_CLIENTS,
    CONNECT_TYPE_DEFAULT, MAX_CLIENTS, STATS_SIZE, STATS_VERSION,
};
use std::collections::HashSet;

pub fn open_close(ctx: &Ctx<'_>) -> Step {
    let observer = ctx.open()?;
    let base = observer.client_info()?;

    let client = ctx.open()?;
    let info = client.client_info()?;
    ensure!(
        info.client_id != 0 && info.client_id != base.client_id,
        "client id {} (observer {})",
        info.client_id,
        base.client_id
    );
    ensure!(
        info.open_clients == base.open_clients + 1,
        "open clients {} after one open, {} before",
        info.open_clients,
        base.open_clients
    );
    ensure!(!info.unload_pending, "unload pending on a fresh client");

    let version = client.version()?;
    let ours = (ABI_VERSION_MAJOR, ABI_VERSION_MINOR, ABI_VERSION_PATCH);
    ensure!(
        version == ours,
        "driver ABI {version:?}, harness ABI {ours:?}"
    );
    let pong = client.ping(41)?;
    ensure!(pong == 42, "Ping(41) answered {pong}");
    let wrapped = client.ping(u64::MAX)?;
    ensure!(
        wrapped == 0,
        "Ping(u64::MAX) answered {wrapped}, expected 0 (wrapping)"
    );
    let stats = client.stats()?;
    ensure!(
        stats.version == STATS_VERSION && stats.size as usize == STATS_SIZE,
        "Stats version {} size {}, expected {STATS_VERSION} and {STATS_SIZE}",
        stats.version,
        stats.size
    );

    let closed = client.close();
    ensure!(
        closed == kIOReturnSuccess,
        "IOServiceClose answered {}",
        Code(closed)
    );
    let after = observer.client_info()?;
    ensure!(
        after.open_clients == base.open_clients,
        "open clients {} after close, {} before",
        after.open_clients,
        base.open_clients
    );

    let other_type = CONNECT_TYPE_DEFAULT + 1;
    match Client::open_type(ctx.backend, &ctx.seen, User::Current, other_type) {
        Ok(_) => {
            return Err(super::Stop::Fail(format!(
                "connection type {other_type} was accepted"
            )))
        }
        Err(r) => ensure!(
            r.code == kIOReturnBadArgument,
            "connection type {other_type}: {r}, expected {}",
            Code(kIOReturnBadArgument)
        ),
    }
    let last = observer.client_info()?;
    ensure!(
        last.open_clients == base.open_clients,
        "a refused open changed the client count to {}",
        last.open_clients
    );
    Ok(format!(
        "client {} opened and closed (open clients {} -> {} -> {}), ABI {}.{}.{}, Ping 41 -> 42, connection type {other_type} refused",
        info.client_id, base.open_clients, info.open_clients, after.open_clients, version.0, version.1, version.2
    ))
}

pub fn many_clients(ctx: &Ctx<'_>) -> Step {
    let observer = ctx.open()?;
    let base = observer.client_info()?;
    // Administrators may take ADMIN_RESERVED_CLIENTS slots nobody else can.
    let most = match ctx.backend.is_admin() {
        true => MAX_CLIENTS + ADMIN_RESERVED_CLIENTS,
        false => MAX_CLIENTS,
    } as usize;
    let mut ids = HashSet::from([base.client_id]);
    let mut clients = Vec::new();
    let refusal = loop {
        ensure!(
            base.open_clients as usize + clients.len() <= most,
            "{} clients open, more than the table's {most}, and no refusal",
            base.open_clients as usize + clients.len()
        );
        match ctx.open() {
            Ok(c) => {
                let id = c.client_info()?.client_id;
                ensure!(ids.insert(id), "client id {id} given twice");
                clients.push(c);
            }
            Err(r) => break r,
        }
    };
    ensure!(
        refusal.code == kIOReturnNoResources,
        "open {} {refusal}, expected {}",
        clients.len() + 1,
        Code(kIOReturnNoResources)
    );
    let full = observer.client_info()?;
    let capacity = full.open_clients;
    ensure!(
        capacity == base.open_clients + clients.len() as u64,
        "table full at {capacity} open clients, but {} + {} were opened",
        base.open_clients,
        clients.len()
    );
    let again = ctx.open();
    ensure!(
        again.as_ref().err().map(|r| r.code) == Some(kIOReturnNoResources),
        "a second open on a full table was not refused with kIOReturnNoResources"
    );

    clients.pop().map(Client::close);
    let reopened = ctx.open()?;
    clients.push(reopened);
    for c in clients {
        let code = c.close();
        ensure!(
            code == kIOReturnSuccess,
            "IOServiceClose answered {}",
            Code(code)
        );
    }
    let end = observer.client_info()?;
    ensure!(
        end.open_clients == base.open_clients,
        "{} clients open after closing all, {} before",
        end.open_clients,
        base.open_clients
    );
    Ok(format!(
        "table full at {capacity} clients (distinct ids), next open refused with kIOReturnNoResources, a freed slot reused, back to {}",
        end.open_clients
    ))
}
