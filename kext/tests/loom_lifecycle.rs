//! Loom model checks of the unload policy (run with `RUSTFLAGS="--cfg loom"`; see README).
//!
//! "The service is torn down" is an access to a loom `UnsafeCell` that every open client also
//! uses: loom reports a terminate that was allowed while a client could still use the service.
//! Self-termination orders are counted across all threads: after a refused request there must be
//! exactly one, however open, close, death and terminate interleave.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use rustkext::lifecycle::{CloseAction, Config, Registry};

struct World {
    registry: Registry,
    /// What each of two clients uses while open; teardown touches both.
    service: [UnsafeCell<u32>; 2],
    orders: AtomicUsize,
}

impl World {
    fn new() -> Arc<World> {
        let registry = Registry::new();
        assert!(registry.start(Config::default()));
        Arc::new(World {
            registry,
            service: [UnsafeCell::new(0), UnsafeCell::new(0)],
            orders: AtomicUsize::new(0),
        })
    }

    fn use_service(&self, client: usize) {
        // SAFETY: loom checks that no teardown access races with this one.
        self.service[client].with_mut(|s| unsafe { *s += 1 });
    }

    fn close(&self, id: u32) {
        if self.registry.close(id) == CloseAction::TerminateService {
            self.orders.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The shim's terminate(): returns whether it was allowed, and tears down if so.
    fn terminate(&self) -> bool {
        let allowed = self.registry.terminate_request().is_ok();
        if allowed {
            for service in self.service.iter() {
                // SAFETY: loom checks the exclusivity.
                service.with_mut(|s| unsafe { *s = u32::MAX });
            }
        }
        allowed
    }
}

/// A client that opens, uses the service, closes, and then "dies" (a second close).
fn client_session(world: &World, client: usize) -> bool {
    match world.registry.open(0, false) {
        Ok(id) => {
            world.use_service(client);
            world.close(id);
            world.close(id);
            true
        }
        Err(_) => false,
    }
}

#[test]
fn terminate_is_never_allowed_while_a_client_is_open() {
    loom::model(|| {
        let world = World::new();
        let already_open = world.registry.open(0, false).unwrap();
        let late_client = {
            let world = world.clone();
            thread::spawn(move || client_session(&world, 0))
        };
        let closer = {
            let world = world.clone();
            thread::spawn(move || {
                world.use_service(1);
                world.close(already_open);
            })
        };
        let allowed = world.terminate();
        let opened = late_client.join().unwrap();
        closer.join().unwrap();

        let orders = world.orders.load(Ordering::SeqCst);
        if allowed {
            assert_eq!(orders, 0, "an allowed terminate needs no self-termination");
            assert!(
                world.registry.open(0, true).is_err(),
                "no open after an allowed terminate"
            );
        } else {
            assert_eq!(
                orders, 1,
                "a refused request orders exactly one self-termination"
            );
            // The ordered self-termination is then allowed: no client is left.
            assert!(world.terminate());
        }
        let _ = opened;
        assert_eq!(world.registry.snapshot().open_clients, 0);
    });
}

#[test]
fn exactly_one_self_termination_with_racing_closes_and_deaths() {
    loom::model(|| {
        let world = World::new();
        let a = world.registry.open(0, false).unwrap();
        let b = world.registry.open(0, true).unwrap();
        // The terminate request arrives while both are open: refused, remembered.
        let closers: Vec<_> = [a, b]
            .into_iter()
            .map(|id| {
                let world = world.clone();
                thread::spawn(move || {
                    world.close(id); // clientClose
                    world.close(id); // clientDied after it: idempotent
                })
            })
            .collect();
        let allowed = world.terminate();
        for t in closers {
            t.join().unwrap();
        }
        let orders = world.orders.load(Ordering::SeqCst);
        assert_eq!(orders, usize::from(!allowed));
        assert!(
            world.terminate(),
            "with zero clients a terminate request is allowed"
        );
    });
}

#[test]
fn opens_racing_a_refused_request_are_refused_or_counted() {
    loom::model(|| {
        let world = World::new();
        let first = world.registry.open(0, false).unwrap();
        let newcomer = {
            let world = world.clone();
            thread::spawn(move || client_session(&world, 0))
        };
        let refused = !world.terminate();
        assert!(refused || world.registry.snapshot().open_clients == 0);
        world.close(first);
        let opened = newcomer.join().unwrap();
        let orders = world.orders.load(Ordering::SeqCst);
        // However the newcomer interleaved, a refused request ends in exactly one order.
        assert_eq!(orders, usize::from(refused), "opened: {opened}");
    });
}
