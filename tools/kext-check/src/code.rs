//! Splits the code sections of an image into the pieces a disassembler may decode: one per
//! symbol, with the data-in-code ranges (jump tables) cut out.

use crate::macho::Member;

pub struct CodeRange<'a> {
    /// The symbol the range starts in (or the section name when no symbol covers it).
    pub symbol: String,
    pub address: u64,
    pub bytes: &'a [u8],
}

pub fn code_ranges(member: &Member) -> Vec<CodeRange<'_>> {
    let mut ranges = Vec::new();
    for (index, section) in member.sections.iter().enumerate() {
        if !section.has_instructions || section.data.is_empty() {
            continue;
        }
        let end = section.address + section.data.len() as u64;
        // Cut points: every symbol start and every data-in-code boundary.
        let mut cuts: Vec<u64> = member
            .symbols
            .iter()
            .filter(|s| s.defined && s.section == Some(index))
            .map(|s| s.address)
            .collect();
        for &(start, len) in &member.data_in_code {
            cuts.push(start);
            cuts.push(start + len);
        }
        cuts.push(section.address);
        cuts.push(end);
        cuts.retain(|&a| a >= section.address && a <= end);
        cuts.sort_unstable();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let (start, stop) = (pair[0], pair[1]);
            let is_data = member.data_in_code.iter().any(|&(s, l)| start >= s && start < s + l);
            if is_data || start == stop {
                continue;
            }
            let symbol = member
                .symbol_at(index, start)
                .map(|s| crate::demangle(&s.name))
                .unwrap_or_else(|| format!("{},{}", section.segment, section.name));
            let from = (start - section.address) as usize;
            let to = (stop - section.address) as usize;
            ranges.push(CodeRange { symbol, address: start, bytes: &section.data[from..to] });
        }
    }
    ranges
}
