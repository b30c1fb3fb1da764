//! Opening and closing: one client, then the whole client table.

use super::{ensure, Ctx, Step};
use crate::backend::User;
use crate::client::Refused;
use crate::client::{Client, ClientInfo, CONNECT_TYPE_DEFAULT};
use crate::codes::{
    kIOReturnBadArgument, kIOReturnNoResources, kIOReturnNotPrivileged, kIOReturnSuccess, Code,
};
use rustkext_monitor_api::{ABI_VERSION, STATS_SIZE, STATS_VERSION};
use std::collections::HashSet;

pub fn open_close(ctx: &Ctx<'_>) -> Step {
    let settings = ctx.require_open()?;
    let room = ctx.room(&settings);
    let observer = ctx.open()?;
    let base = ClientInfo::from(observer.get_client_info()?);
    if base.open_clients >= room {
        return alone(ctx, observer, base, room);
    }

    let client = ctx.open()?;
    let info = ClientInfo::from(client.get_client_info()?);
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

    let version = client.get_version()?;
    let ours = ABI_VERSION;
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
    if ctx.may_observe(&settings) {
        let stats = client.get_stats()?;
        ensure!(
            stats.version == STATS_VERSION && stats.size as usize == STATS_SIZE,
            "Stats version {} size {}, expected {STATS_VERSION} and {STATS_SIZE}",
            stats.version,
            stats.size
        );
    } else {
        // Observer methods are the administrators' under this configuration.
        let refused = client
            .get_stats()
            .map(drop)
            .map_err(Refused::from)
            .err()
            .map(|r| r.code);
        ensure!(
            refused == Some(kIOReturnNotPrivileged),
            "GetStats for a non-administrator without RustKextStatsForEveryone: {refused:?}, expected {}",
            Code(kIOReturnNotPrivileged)
        );
    }

    let closed = client.close();
    ensure!(
        closed == kIOReturnSuccess,
        "IOServiceClose answered {}",
        Code(closed)
    );
    let after = ClientInfo::from(observer.get_client_info()?);
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
    let last = ClientInfo::from(observer.get_client_info()?);
    ensure!(
        last.open_clients == base.open_clients,
        "a refused open changed the client count to {}",
        last.open_clients
    );
    Ok(format!(
        "client {} opened and closed (open clients {} -> {} -> {}), ABI {}.{}.{}, Ping 41 -> 42, connection type {other_type} refused",
        info.client_id, base.open_clients, info.open_clients, after.open_clients, version[0], version[1], version[2]
    ))
}

pub fn many_clients(ctx: &Ctx<'_>) -> Step {
    let settings = ctx.require_open()?;
    let observer = ctx.open()?;
    let base = ClientInfo::from(observer.get_client_info()?);
    // `max-clients`, and for administrators the slots nobody else can take.
    let most = ctx.room(&settings) as usize;
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
                let id = ClientInfo::from(c.get_client_info()?).client_id;
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
    let full = ClientInfo::from(observer.get_client_info()?);
    let capacity = full.open_clients;
    ensure!(
        capacity == base.open_clients + clients.len() as u64,
        "table full at {capacity} open clients, but {} + {} were opened",
        base.open_clients,
        clients.len()
    );
    ensure!(
        capacity as usize == most,
        "table full at {capacity} open clients, expected {most} (RustKextMaxClients {}{})",
        settings.max_clients,
        if ctx.backend.is_admin() {
            " and the administrators' reserve"
        } else {
            ""
        }
    );
    let again = ctx.open();
    ensure!(
        again.as_ref().err().map(|r| r.code) == Some(kIOReturnNoResources),
        "a second open on a full table was not refused with kIOReturnNoResources"
    );

    if clients.is_empty() {
        // Only the observer fits: its slot, freed, is taken again.
        let closed = observer.close();
        ensure!(
            closed == kIOReturnSuccess,
            "IOServiceClose answered {}",
            Code(closed)
        );
        let reopened = ctx.open()?;
        let info = ClientInfo::from(reopened.get_client_info()?);
        ensure!(
            info.open_clients == base.open_clients && info.client_id != base.client_id,
            "reopened as client {} with {} open, expected a new id and {} open",
            info.client_id,
            info.open_clients,
            base.open_clients
        );
        return Ok(format!(
            "table full at {capacity} clients (the first alone), next open refused with kIOReturnNoResources, its freed slot reused, back to {}",
            info.open_clients
        ));
    }
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
    let end = ClientInfo::from(observer.get_client_info()?);
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

/// open-close when the configuration leaves the current user room for one client only (the
/// observer): a second open is refused with kIOReturnNoResources and changes nothing; the one
/// client serves, closes, and its slot opens again.
fn alone(ctx: &Ctx<'_>, client: Client<'_>, base: ClientInfo, room: u64) -> Step {
    match ctx.open() {
        Ok(_) => {
            return Err(super::Stop::Fail(format!(
                "a client beyond the table's {room} was admitted"
            )))
        }
        Err(r) => ensure!(
            r.code == kIOReturnNoResources,
            "open beyond the table's {room}: {r}, expected {}",
            Code(kIOReturnNoResources)
        ),
    }
    let info = ClientInfo::from(client.get_client_info()?);
    ensure!(
        info == base,
        "a refused open changed GetClientInfo: {base:?} -> {info:?}"
    );
    let version = client.get_version()?;
    ensure!(
        version == ABI_VERSION,
        "driver ABI {version:?}, harness ABI {ABI_VERSION:?}"
    );
    let pong = client.ping(41)?;
    ensure!(pong == 42, "Ping(41) answered {pong}");
    let closed = client.close();
    ensure!(
        closed == kIOReturnSuccess,
        "IOServiceClose answered {}",
        Code(closed)
    );
    let again = ctx.open()?;
    let reopened = ClientInfo::from(again.get_client_info()?);
    ensure!(
        reopened.client_id != base.client_id && reopened.open_clients == base.open_clients,
        "reopened as client {} with {} open, expected a new id and {} open",
        reopened.client_id,
        reopened.open_clients,
        base.open_clients
    );
    Ok(format!(
        "room for {room} client(s): client {} served (ABI {}.{}.{}, Ping 41 -> 42), a second open refused with kIOReturnNoResources, closed and reopened as client {}",
        base.client_id, version[0], version[1], version[2], reopened.client_id
    ))
}
