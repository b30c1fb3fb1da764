//! Method tables and the one validation every call goes through.

use crate::caller::{CallerInfo, ClientSnapshot};
use crate::Refusal;

/// Most scalars IOKit carries each way (`kIOUserClientScalarMax`-ish: the MIG array bound).
pub const MAX_SCALARS: u32 = 16;
/// Largest struct IOKit passes inline each way; a larger one arrives as a memory descriptor,
/// which the shim never hands to a method.
pub const MAX_STRUCT_BYTES: u32 = 4096;

/// The framework's own selector, outside every interface's table: 0 in, 2 scalars out
/// ([`Interface::FINGERPRINT`], method count), any open client. A generated client calls it at
/// open and refuses a kernel whose fingerprint differs.
pub const DESCRIBE: u32 = 0xFFFF_0000;
/// The shape of [`DESCRIBE`].
pub const DESCRIBE_SHAPE: Shape = Shape::new(0, 0, 2, 0);

/// Counts and sizes a selector takes, each exact (no wildcard). Same layout as the C
/// `rk_method_shape` of `shim-cpp/rustkext.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Number of 64-bit scalars in.
    pub scalar_input_count: u32,
    /// Size in bytes of the input struct.
    pub struct_input_size: u32,
    /// Number of 64-bit scalars out.
    pub scalar_output_count: u32,
    /// Size in bytes of the output struct.
    pub struct_output_size: u32,
}

impl Shape {
    /// A shape from its four counts.
    pub const fn new(
        scalar_input_count: u32,
        struct_input_size: u32,
        scalar_output_count: u32,
        struct_output_size: u32,
    ) -> Shape {
        Shape { scalar_input_count, struct_input_size, scalar_output_count, struct_output_size }
    }
}

/// Who may call a method. "Administrator" is decided once per client, at open
/// (`clientHasPrivilege(task, kIOClientPrivilegeAdministrator)`: effective uid 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Privilege {
    /// Any open client.
    Anyone,
    /// Administrators, and everyone when the kext's personality sets its
    /// `observers-for-everyone` setting (e.g. the monitor's `RustKextStatsForEveryone`).
    Observer,
    /// Administrators only.
    Admin,
}

impl Privilege {
    /// Whether a client with `is_admin` may call, under `observers_for_everyone`.
    pub const fn allows(self, is_admin: bool, observers_for_everyone: bool) -> bool {
        match self {
            Privilege::Anyone => true,
            Privilege::Admin => is_admin,
            Privilege::Observer => is_admin || observers_for_everyone,
        }
    }

    /// Its name, as the fingerprint folds it.
    pub const fn name(self) -> &'static str {
        match self {
            Privilege::Anyone => "Anyone",
            Privilege::Observer => "Observer",
            Privilege::Admin => "Admin",
        }
    }
}

/// One method of an interface; an interface's table lists them by selector, dense from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The method's name (`GetStats` for `get_stats`).
    pub name: &'static str,
    /// Its exact shape.
    pub shape: Shape,
    /// Who may call it.
    pub privilege: Privilege,
    /// Declared `#[query]`: it changes nothing, so it answers the same before and after any
    /// refused call (the conformance suite checks that).
    pub query: bool,
}

/// One call: slice lengths are the counts and sizes the caller passed (scalars for `scalar_*`,
/// bytes for `struct_*`); outputs are capacities.
#[derive(Debug)]
pub struct Call<'a> {
    /// Input scalars.
    pub scalar_input: &'a [u64],
    /// Input struct bytes.
    pub struct_input: &'a [u8],
    /// Room for output scalars.
    pub scalar_output: &'a mut [u64],
    /// Room for output struct bytes.
    pub struct_output: &'a mut [u8],
}

fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Call<'_> {
    /// The counts and sizes this call carries (a length above `u32::MAX` matches no shape).
    pub fn shape(&self) -> Shape {
        Shape::new(
            count(self.scalar_input.len()),
            count(self.struct_input.len()),
            count(self.scalar_output.len()),
            count(self.struct_output.len()),
        )
    }
}

/// The shape of `selector` in `table` ([`DESCRIBE`] included), or `kIOReturnBadArgument`.
pub fn shape_for(table: &[Entry], selector: u32) -> Result<Shape, Refusal> {
    if selector == DESCRIBE {
        return Ok(DESCRIBE_SHAPE);
    }
    table.get(selector as usize).map(|e| e.shape).ok_or(Refusal::BAD_ARGUMENT)
}

/// The checks after "the client is open", in order (the first that fails answers and nothing
/// changes): the selector is in the table (`kIOReturnBadArgument`; checked before anything is
/// indexed), the four counts equal its shape exactly (`kIOReturnBadArgument`), its privilege
/// allows the client (`kIOReturnNotPrivileged`). [`DESCRIBE`] is not in any table: the caller
/// answers it first. Returns the method's shape.
pub fn validate(
    table: &[Entry],
    selector: u32,
    given: Shape,
    client: &ClientSnapshot,
) -> Result<Shape, Refusal> {
    let entry = table.get(selector as usize).ok_or(Refusal::BAD_ARGUMENT)?;
    if given != entry.shape {
        return Err(Refusal::BAD_ARGUMENT);
    }
    if !entry.privilege.allows(client.is_admin, client.observers_for_everyone) {
        return Err(Refusal::NOT_PRIVILEGED);
    }
    Ok(entry.shape)
}

/// An interface: what `#[interface]` derives from a trait, implemented for `dyn Trait`.
pub trait Interface {
    /// The name given to `#[interface(name = ...)]`.
    const NAME: &'static str;
    /// The methods, by selector.
    const TABLE: &'static [Entry];
    /// FNV-1a of the name, the table and every argument's and result's layout.
    const FINGERPRINT: u64;
}

/// Serving an interface with a driver `D`: after [`validate`], decode the arguments, call the
/// method, encode its result. Generated by `#[interface]` for every `D` implementing the trait.
pub trait Serve<D: ?Sized>: Interface {
    /// Runs the validated method `selector`: its outputs are written only on success.
    fn serve(driver: &D, selector: u32, caller: &CallerInfo<'_>, call: &mut Call<'_>) -> Result<(), Refusal>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Entry] = &[
        Entry { name: "Ping", shape: Shape::new(1, 0, 1, 0), privilege: Privilege::Anyone, query: true },
        Entry { name: "Read", shape: Shape::new(0, 0, 0, 8), privilege: Privilege::Observer, query: true },
        Entry { name: "Reset", shape: Shape::new(0, 0, 0, 0), privilege: Privilege::Admin, query: false },
    ];

    fn client(is_admin: bool, observers_for_everyone: bool) -> ClientSnapshot {
        ClientSnapshot { id: 0x101, is_admin, open_clients: 1, unload_pending: false, observers_for_everyone }
    }

    #[test]
    fn bound_then_shape_then_privilege() {
        let user = client(false, false);
        for selector in [3, 4, 0x100, DESCRIBE, u32::MAX] {
            assert_eq!(validate(TABLE, selector, Shape::default(), &user), Err(Refusal::BAD_ARGUMENT));
        }
        // A wrong shape is refused as such even where the privilege would be missing too.
        assert_eq!(validate(TABLE, 2, Shape::new(0, 0, 1, 0), &user), Err(Refusal::BAD_ARGUMENT));
        assert_eq!(validate(TABLE, 2, Shape::default(), &user), Err(Refusal::NOT_PRIVILEGED));
        assert_eq!(validate(TABLE, 2, Shape::default(), &client(true, false)), Ok(Shape::default()));
        assert_eq!(validate(TABLE, 0, Shape::new(1, 0, 1, 0), &user), Ok(Shape::new(1, 0, 1, 0)));
    }

    #[test]
    fn observers_are_administrators_unless_the_personality_says_everyone() {
        let read = Shape::new(0, 0, 0, 8);
        assert_eq!(validate(TABLE, 1, read, &client(false, false)), Err(Refusal::NOT_PRIVILEGED));
        assert_eq!(validate(TABLE, 1, read, &client(false, true)), Ok(read));
        assert_eq!(
            validate(TABLE, 2, Shape::default(), &client(false, true)),
            Err(Refusal::NOT_PRIVILEGED),
            "the setting opens observers' methods only"
        );
    }

    #[test]
    fn shapes_include_describe() {
        assert_eq!(shape_for(TABLE, DESCRIBE), Ok(DESCRIBE_SHAPE));
        assert_eq!(shape_for(TABLE, 1), Ok(Shape::new(0, 0, 0, 8)));
        assert_eq!(shape_for(TABLE, 3), Err(Refusal::BAD_ARGUMENT));
    }

    #[test]
    fn call_shapes_saturate() {
        let call = Call { scalar_input: &[1, 2], struct_input: &[0; 5], scalar_output: &mut [], struct_output: &mut [0; 3] };
        assert_eq!(call.shape(), Shape::new(2, 5, 0, 3));
    }
}
