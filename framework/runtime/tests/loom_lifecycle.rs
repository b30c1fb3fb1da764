//! Loom model checks of the unload policy (run with `RUSTFLAGS="--cfg loom"`; see docs/testing.md).
//!
//! "The service is torn down" is an access to a loom `UnsafeCell` that every open client also
//! uses: loom reports a terminate that was allowed while a client could still use the service.
//! Self-termination orders are counted across all threads: after a refused request there must be
//! exactly one, however open (by users and by administrators, who may open while an unload is
//! pending), close, death and terminate interleave; and the shutdown happens at most once.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use rustkext::settings::Settings;
use rustkext::lifecycle::{CloseAction, Registry, TerminateAnswer};

struct World {
    registry: Registry,
    /// What each of two clients uses while open; teardown touches both.
    service: [UnsafeCell<u32>; 2],
    orders: AtomicUsize,
    shutdowns: AtomicUsize,
}

impl World {
    fn new() -> Arc<World> {
        let registry = Registry::new();
        assert!(registry.start(Settings::default()));
        Arc::new(World {
            registry,
            service: [UnsafeCell::new(0), UnsafeCell::new(0)],
            orders: AtomicUsize::new(0),
            shutdowns: AtomicUsize::new(0),
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

    /// The shim's terminate(): returns whether it was allowed, and tears down on the first.
    fn terminate(&self) -> bool {
        match self.registry.terminate_request() {
            TerminateAnswer::Refuse(_) => false,
            TerminateAnswer::ShutDown => {
                assert_eq!(
                    self.shutdowns.fetch_add(1, Ordering::SeqCst),
                    0,
                    "shut down twice"
                );
                for service in self.service.iter() {
                    // SAFETY: loom checks the exclusivity.
                    service.with_mut(|s| unsafe { *s = u32::MAX });
                }
                true
            }
            TerminateAnswer::Proceed => true,
        }
    }
}

/// A client that opens, uses the service, closes, and then "dies" (a second close).
fn client_session(world: &World, client: usize) -> bool {
    session(world, client, false)
}

fn session(world: &World, client: usize, is_admin: bool) -> bool {
    match world.registry.open(0, is_admin) {
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

#[test]
fn an_administrator_opening_during_a_pending_unload_leaves_exactly_one_self_termination() {
    loom::model(|| {
        let world = World::new();
        let user = world.registry.open(0, false).unwrap();
        assert!(!world.terminate(), "refused: the request is pending");
        let admin = {
            let world = world.clone();
            thread::spawn(move || session(&world, 0, true))
        };
        let leaver = {
            let world = world.clone();
            thread::spawn(move || {
                world.use_service(1);
                world.close(user);
                world.close(user);
            })
        };
        // kextunload again, racing both: never allowed while the administrator's client is open
        // (loom reports the teardown racing its use of the service).
        let _ = world.terminate();
        let _admin_opened = admin.join().unwrap();
        leaver.join().unwrap();
        assert_eq!(world.orders.load(Ordering::SeqCst), 1, "exactly one order");
        assert!(world.terminate(), "nobody is left: allowed");
        assert_eq!(world.shutdowns.load(Ordering::SeqCst), 1);
        assert_eq!(world.registry.snapshot().open_clients, 0);
    });
}
