//! Text/data sizes of Mach-O images (`__TEXT` and `__DATA` segments' sections).

use crate::macho::Member;

#[derive(Default, Clone, Copy)]
pub struct Size {
    pub text: u64,
    pub data: u64,
}

pub fn size_of(member: &Member) -> Size {
    let mut size = Size::default();
    for section in &member.sections {
        match section.segment.as_str() {
            "__TEXT" => size.text += section.size,
            "__DATA" | "__DATA_CONST" => size.data += section.size,
            _ => {}
        }
    }
    size
}
