//! The external-method table (DESIGN.md "The user-client API") and its validation.
//!
//! Checks, in this order (the first failing one answers, and nothing changes):
//! 1. the client is open (`kIOReturnNotOpen`) — see [`Driver::external_method`];
//! 2. the selector is in the table (`kIOReturnBadArgument`, the code `IOUserClient2022` uses for
//!    an out-of-range selector) — checked before anything is indexed;
//! 3. the four counts and sizes equal the selector's shape exactly (`kIOReturnBadArgument`);
//! 4. the selector's [`Privilege`](crate::abi::Privilege) must allow the client
//!    (`kIOReturnNotPrivileged`);
//! 5. the method's own input checks (`SetPathFilter`: NUL inside the struct, UTF-8 before it →
//!    else `kIOReturnBadArgument`).
//!
//! The output counts are written only on success.

use crate::abi::{MethodShape, Selector, ABI_VERSION_MAJOR, ABI_VERSION_MINOR, ABI_VERSION_PATCH};
use crate::driver::Driver;
use crate::filter::prefix_from_input;
use crate::ioreturn::{kIOReturnBadArgument, kIOReturnNotOpen, kIOReturnNotPrivileged, IOReturn};
use crate::lifecycle::ClientInfo;

/// One call: the selector and its buffers. Slice lengths are the counts and sizes the caller
/// passed (scalars for the `scalar_*` slices, bytes for the `struct_*` slices); output slices are
/// capacities.
pub struct Call<'a> {
    /// The selector.
    pub selector: u32,
    /// Input scalars.
    pub scalar_input: &'a [u64],
    /// Input struct bytes.
    pub struct_input: &'a [u8],
    /// Room for output scalars.
    pub scalar_output: &'a mut [u64],
    /// Room for output struct bytes.
    pub struct_output: &'a mut [u8],
}

impl Call<'_> {
    /// The counts and sizes this call carries.
    pub fn shape(&self) -> MethodShape {
        MethodShape::new(
            count(self.scalar_input.len()),
            count(self.struct_input.len()),
            count(self.scalar_output.len()),
            count(self.struct_output.len()),
        )
    }
}

/// Lengths above `u32::MAX` become `u32::MAX`, which matches no shape.
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// What a successful method wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Output scalars written.
    pub scalars: u32,
    /// Output struct bytes written.
    pub bytes: u32,
}

/// The shape of `selector`, or `kIOReturnBadArgument` for an unknown one.
pub fn shape_for(selector: u32) -> Result<MethodShape, IOReturn> {
    Selector::from_raw(selector)
        .map(Selector::shape)
        .ok_or(kIOReturnBadArgument)
}

/// Checks 2–4 of the module documentation, for `client`.
pub fn validate(
    selector: u32,
    given: MethodShape,
    client: &ClientInfo,
) -> Result<Selector, IOReturn> {
    let selector = Selector::from_raw(selector).ok_or(kIOReturnBadArgument)?;
    if given != selector.shape() {
        return Err(kIOReturnBadArgument);
    }
    if !selector
        .privilege()
        .allows(client.is_admin, client.stats_for_everyone)
    {
        return Err(kIOReturnNotPrivileged);
    }
    Ok(selector)
}

/// Runs a validated method. `call` must have exactly `selector.shape()` (as [`validate`]
/// checked); with any other lengths it still does not panic, but copies only what fits.
pub fn run(
    driver: &Driver,
    client: ClientInfo,
    selector: Selector,
    call: &mut Call<'_>,
) -> Result<Written, IOReturn> {
    match selector {
        Selector::Ping => {
            let input = call.scalar_input.first().copied().unwrap_or(0);
            put_scalars(call, &[input.wrapping_add(1)]);
        }
        Selector::GetVersion => {
            put_scalars(
                call,
                &[ABI_VERSION_MAJOR, ABI_VERSION_MINOR, ABI_VERSION_PATCH],
            );
        }
        Selector::GetStats => {
            let bytes = driver.stats().to_bytes();
            for (dst, src) in call.struct_output.iter_mut().zip(bytes.iter()) {
                *dst = *src;
            }
        }
        Selector::ResetStats => driver.reset_stats(),
        Selector::SetPathFilter => {
            let prefix = prefix_from_input(call.struct_input).ok_or(kIOReturnBadArgument)?;
            if !driver.filter.set(prefix) {
                return Err(kIOReturnBadArgument);
            }
        }
        Selector::GetClientInfo => put_scalars(
            call,
            &[
                u64::from(client.id),
                u64::from(client.open_clients),
                u64::from(client.unload_pending),
            ],
        ),
        Selector::CancelUnload => {
            driver.registry.cancel_unload();
        }
    }
    let shape = selector.shape();
    Ok(Written {
        scalars: shape.scalar_output_count,
        bytes: shape.struct_output_size,
    })
}

fn put_scalars(call: &mut Call<'_>, values: &[u64]) {
    for (dst, src) in call.scalar_output.iter_mut().zip(values.iter()) {
        *dst = *src;
    }
}

impl Driver {
    /// The open client `client_id`, or `kIOReturnNotOpen`.
    pub fn client(&self, client_id: u32) -> Result<ClientInfo, IOReturn> {
        self.registry.client(client_id).ok_or(kIOReturnNotOpen)
    }

    /// An external method from a safe caller (slices): every check of the module documentation,
    /// then the method.
    pub fn external_method(
        &self,
        client_id: u32,
        call: &mut Call<'_>,
    ) -> Result<Written, IOReturn> {
        let client = self.client(client_id)?;
        let selector = validate(call.selector, call.shape(), &client)?;
        run(self, client, selector, call)
    }
}
