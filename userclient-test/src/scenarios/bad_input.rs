//! The bad-input matrix: every selector with each count and size off by one (or zero, or the
//! inline maximum), and selectors past the table. All must be refused with
//! kIOReturnBadArgument and change nothing.

use super::{ensure, Ctx, Step};
use crate::backend::Call;
use crate::client::selector_name;
use crate::codes::{kIOReturnBadArgument, Code};
use crate::fileops::FileOp;
use rustkext::abi::{MethodShape, Selector, Stats, SELECTOR_COUNT};

/// Largest struct IOKit passes inline; larger ones travel as memory descriptors.
const INLINE_STRUCT_MAX: u32 = 4096;

/// Counts that differ from `exact` but stay within IOKit's limits.
fn wrong_counts(exact: u32, max: u32) -> Vec<u32> {
    let mut v = vec![exact + 1];
    if exact > 0 {
        v.extend([exact - 1, 0]);
    } else {
        v.push(max);
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Every wrong shape of `exact`: one field wrong at a time.
fn wrong_shapes(exact: MethodShape) -> Vec<MethodShape> {
    let mut shapes = Vec::new();
    for n in wrong_counts(exact.scalar_input_count, 16) {
        shapes.push(MethodShape {
            scalar_input_count: n,
            ..exact
        });
    }
    for n in wrong_counts(exact.struct_input_size, INLINE_STRUCT_MAX) {
        shapes.push(MethodShape {
            struct_input_size: n,
            ..exact
        });
    }
    for n in wrong_counts(exact.scalar_output_count, 16) {
        shapes.push(MethodShape {
            scalar_output_count: n,
            ..exact
        });
    }
    for n in wrong_counts(exact.struct_output_size, INLINE_STRUCT_MAX) {
        shapes.push(MethodShape {
            struct_output_size: n,
            ..exact
        });
    }
    shapes
}

pub fn run(ctx: &Ctx<'_>) -> Step {
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
    let before = client.stats()?;
    ensure!(
        before.events.iter().sum::<u64>() > 0,
        "no FILEOP event counted after file activity"
    );

    let mut cases = Vec::new();
    for selector in Selector::ALL {
        for shape in wrong_shapes(selector.shape()) {
            cases.push((selector as u32, selector_name(selector).to_string(), shape));
        }
    }
    for raw in [SELECTOR_COUNT, SELECTOR_COUNT + 1, 0x100, u32::MAX] {
        cases.push((raw, format!("selector {raw:#x}"), MethodShape::default()));
        cases.push((
            raw,
            format!("selector {raw:#x}"),
            MethodShape::new(1, 0, 1, 0),
        ));
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

    let after = client.stats()?;
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
        for selector in Selector::ALL {
            let exact = selector.shape();
            let shapes = wrong_shapes(exact);
            assert!(shapes.len() >= 8, "{selector:?}");
            assert!(shapes.iter().all(|s| *s != exact));
        }
    }
}
