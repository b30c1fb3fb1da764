//! The bad-input matrix: every selector of the monitor's table (and the framework's DESCRIBE)
//! with each count and size off by one (or zero, or the inline maximum, or past it), and
//! selectors past the table: the framework's generated conformance matrix
//! (`rustkext_abi::conformance::wrong_shapes`). All must be refused with kIOReturnBadArgument and
//! change nothing.

use super::{ensure, Ctx, Step};
use crate::backend::Call;
use crate::client::table;
use crate::codes::{kIOReturnBadArgument, Code};
use crate::fileops::FileOp;
use rustkext_abi::conformance::wrong_shapes;
use rustkext_abi::{Shape, DESCRIBE, DESCRIBE_SHAPE};
use rustkext_monitor_api::Stats;

pub fn run(ctx: &Ctx<'_>) -> Step {
    let settings = ctx.require_open()?;
    let client = ctx.open()?;
    // Some activity first, so that a wrongly accepted ResetStats would show as a drop.
    let root = ctx.backend.file_root().map_err(super::Stop::Fail)?;
    let ops = [
        FileOp::MakeDir(root.clone()),
        FileOp::Write(root.join("x")),
        FileOp::Delete(root.join("x")),
        FileOp::RemoveDir(root),
    ];
    ctx.backend.file_ops(&ops).map_err(super::Stop::Fail)?;
    // GetStats, or the registry's counters for a user who may not observe.
    let before = ctx.counters(&client, &settings)?;
    ensure!(
        before.events.iter().sum::<u64>() > 0,
        "no FILEOP event counted after file activity"
    );

    let mut cases = Vec::new();
    let named = (0u32..)
        .zip(table().iter().map(|e| (e.name, e.shape)))
        .chain([(DESCRIBE, ("Describe", DESCRIBE_SHAPE))]);
    for (selector, (name, exact)) in named {
        for shape in wrong_shapes(exact) {
            cases.push((selector, name.to_string(), shape));
        }
    }
    let count = table().len() as u32;
    for raw in [count, count + 1, 0x100, u32::MAX] {
        cases.push((raw, format!("selector {raw:#x}"), Shape::default()));
        cases.push((raw, format!("selector {raw:#x}"), Shape::new(1, 0, 1, 0)));
    }

    for (raw, what, shape) in &cases {
        let scalars = vec![0u64; shape.scalar_input_count as usize];
        let bytes = vec![0u8; shape.struct_input_size as usize];
        let result = client.call(&Call {
            selector: *raw,
            scalars_in: &scalars,
            struct_in: &bytes,
            scalar_out_capacity: shape.scalar_output_count,
            struct_out_capacity: shape.struct_output_size,
        });
        match result {
            Ok(_) => {
                return Err(super::Stop::Fail(format!(
                    "{what} with {shape:?} was accepted"
                )))
            }
            Err(code) => ensure!(
                code == kIOReturnBadArgument,
                "{what} with {shape:?}: {}, expected {}",
                Code(code),
                Code(kIOReturnBadArgument)
            ),
        }
    }

    let after = ctx.counters(&client, &settings)?;
    unchanged(ctx, &before, &after)?;
    let pong = client.ping(7)?;
    ensure!(
        pong == 8,
        "the connection no longer serves: Ping(7) answered {pong}"
    );
    Ok(format!("{} malformed calls refused with kIOReturnBadArgument; Stats unchanged; connection still serves", cases.len()))
}

/// Stats after refused calls: equal on a quiet backend; on a real machine other processes add
/// events, so only a drop (a reset that should have been refused) is detectable.
pub fn unchanged(ctx: &Ctx<'_>, before: &Stats, after: &Stats) -> Step<()> {
    if ctx.backend.is_quiet() {
        ensure!(after == before, "Stats changed: {before:?} -> {after:?}");
    } else {
        let dropped = before
            .events
            .iter()
            .zip(after.events.iter())
            .any(|(b, a)| a < b);
        ensure!(
            !dropped,
            "event counters dropped (reset?): {:?} -> {:?}",
            before.events,
            after.events
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wrong_shape_differs_from_the_exact_one() {
        for entry in table() {
            let shapes = wrong_shapes(entry.shape);
            assert!(shapes.len() >= 8, "{}", entry.name);
            assert!(shapes.iter().all(|s| *s != entry.shape));
        }
    }
}
