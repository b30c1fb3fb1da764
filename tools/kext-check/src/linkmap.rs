//! The linked size of the Rust code: `__TEXT,__text` bytes a dead-stripping link keeps from the
//! Rust archive, read from the linker's map (`ld64.lld -map`, the format ld64 writes too).
//!
//! `build.sh` makes the link (issue 11's measurement): on x86_64 the shim objects, the kmod glue
//! and the Rust archive, `-dead_strip` rooted at `_kmod_info`, the vtables and the metaclasses
//! (what the kernel reaches); where no shim objects exist (arm64e, or no Kernel.framework headers)
//! the Rust archive alone rooted at the C ABI exports, which keeps the same code.

/// One symbol of the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSymbol {
    pub address: u64,
    pub size: u64,
    /// The input file it came from, as the map names it (`lib.a(member.o)`).
    pub file: String,
    pub name: String,
}

/// What a map says: sections (segment, section, start, size) and symbols.
#[derive(Clone, Debug, Default)]
pub struct LinkMap {
    pub sections: Vec<(String, String, u64, u64)>,
    pub symbols: Vec<MapSymbol>,
}

fn hex(s: &str) -> Result<u64, String> {
    let digits = s.trim().strip_prefix("0x").ok_or_else(|| format!("not a hex number: {s:?}"))?;
    u64::from_str_radix(digits, 16).map_err(|e| format!("{s:?}: {e}"))
}

/// Parses the `# Object files:`, `# Sections:` and `# Symbols:` parts of a Mach-O link map.
pub fn parse(text: &str) -> Result<LinkMap, String> {
    #[derive(PartialEq)]
    enum Part {
        None,
        Files,
        Sections,
        Symbols,
        Other,
    }
    let mut part = Part::None;
    let mut files: Vec<(usize, String)> = Vec::new();
    let mut map = LinkMap::default();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("# ") {
            part = match heading.trim_end_matches(':') {
                "Object files" => Part::Files,
                "Sections" => Part::Sections,
                "Symbols" => Part::Symbols,
                _ if part == Part::None || heading.starts_with("Address") => {
                    continue;
                }
                _ => Part::Other,
            };
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match part {
            Part::Files => {
                let rest = line.trim_start().strip_prefix('[').ok_or_else(|| format!("object line: {line:?}"))?;
                let (index, name) = rest.split_once(']').ok_or_else(|| format!("object line: {line:?}"))?;
                let index = index.trim().parse().map_err(|e| format!("{line:?}: {e}"))?;
                files.push((index, name.trim().to_string()));
            }
            Part::Sections => {
                let fields: Vec<&str> = line.split('\t').collect();
                if let [address, size, segment, section, ..] = fields[..] {
                    map.sections.push((segment.trim().into(), section.trim().into(), hex(address)?, hex(size)?));
                } else {
                    return Err(format!("section line: {line:?}"));
                }
            }
            Part::Symbols => {
                let fields: Vec<&str> = line.splitn(3, '\t').collect();
                let [address, size, rest] = fields[..] else {
                    return Err(format!("symbol line: {line:?}"));
                };
                let rest = rest.trim_start().strip_prefix('[').ok_or_else(|| format!("symbol line: {line:?}"))?;
                let (index, name) = rest.split_once(']').ok_or_else(|| format!("symbol line: {line:?}"))?;
                let index: usize = index.trim().parse().map_err(|e| format!("{line:?}: {e}"))?;
                let file = files
                    .iter()
                    .find(|(i, _)| *i == index)
                    .map(|(_, f)| f.clone())
                    .ok_or_else(|| format!("symbol of unknown file [{index}]: {line:?}"))?;
                map.symbols.push(MapSymbol { address: hex(address)?, size: hex(size)?, file, name: name.trim().into() });
            }
            Part::None | Part::Other => {}
        }
    }
    Ok(map)
}

/// The bytes of `__TEXT,__text` symbols whose input file is a member of an archive whose file name
/// is `archive` (`.../librustkext.a(member.o)`), and how many symbols that is.
pub fn text_from_archive(map: &LinkMap, archive: &str) -> (u64, usize) {
    let text: Vec<(u64, u64)> = map
        .sections
        .iter()
        .filter(|(seg, sect, _, _)| seg == "__TEXT" && sect == "__text")
        .map(|(_, _, start, size)| (*start, *size))
        .collect();
    let from_archive = |file: &str| {
        file.split_once('(').is_some_and(|(path, _)| path.rsplit('/').next() == Some(archive))
    };
    map.symbols
        .iter()
        .filter(|s| from_archive(&s.file))
        .filter(|s| text.iter().any(|(start, size)| s.address >= *start && s.address < start + size))
        .fold((0, 0), |(bytes, n), s| (bytes + s.size, n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "# Path: k\n# Arch: x86_64\n# Object files:\n[  0] linker synthesized\n\
        [  1] /b/x86_64/Service.o\n[  2] /t/librustkext.a(rustkext-1.cgu.0.rcgu.o)\n\
        [  3] /t/librustkext.a(core-2.core.cgu.0.rcgu.o)\n[  4] /t/other/librustkext.a.bak(x.o)\n\
        # Sections:\n# Address\tSize    \tSegment\tSection\n0x00000660\t0x00000100\t__TEXT\t__text\n\
        0x00000800\t0x00000040\t__TEXT\t__cstring\n\
        # Symbols:\n# Address\tSize    \tFile  Name\n0x00000660\t0x00000020\t[  1] _shim\n\
        0x00000680\t0x00000030\t[  2] _rk_service_start\n0x000006B0\t0x00000010\t[  3] _memcpy_helper\n\
        0x00000800\t0x00000008\t[  2] l_.str\n0x000006C0\t0x00000004\t[  4] _elsewhere\n\
        # Dead Stripped Symbols:\n#        \tSize    \tFile  Name\n<<dead>> \t0x00000010\t[  2] _gone\n";

    #[test]
    fn sums_the_text_of_the_archive_members_only() {
        let map = parse(MAP).unwrap();
        assert_eq!(map.symbols.len(), 5);
        assert_eq!(text_from_archive(&map, "librustkext.a"), (0x40, 2), "cstring and other archives excluded");
        assert_eq!(text_from_archive(&map, "libother.a"), (0, 0));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(parse("# Object files:\nnonsense\n").is_err());
        assert!(parse("# Object files:\n[  1] a.o\n# Symbols:\n0x10\t0x4\t[  9] _x\n").is_err());
    }
}
