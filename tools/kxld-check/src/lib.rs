//! kxld-check: links RustKext's x86_64 kext with macOS 10.15's own kext linker, kxld, built
//! from an xnu source tree on the developer's machine, against a kernel symbol model (or, on a
//! Mac, the real 10.15 kernel and KPI pseudo-kexts), and verifies every fixup of the result.
//! See `tools/kxld-check/README.md`.

pub mod exports;
pub mod layout;
pub mod macho;
pub mod model;
pub mod plugins;
pub mod probe;
pub mod strip;
pub mod verify;
pub mod version;
