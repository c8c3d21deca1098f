//! A small ELF reader: just enough to say how a binary is linked. It reads the file header, the
//! program headers, PT_INTERP, and PT_DYNAMIC's DT_NEEDED/DT_RUNPATH/DT_FLAGS_1, with the string table
//! found by mapping DT_STRTAB's address through the PT_LOAD segments (section headers are not needed,
//! so stripped binaries read the same). 32 and 64 bit, little and big endian. Every read is bounds
//! checked: a truncated or hostile file is an `ElfError`, never a panic.

use serde::Serialize;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DF_1_PIE: u64 = 0x0800_0000;

/// How a file is linked, as the loader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linking {
    /// An executable with no interpreter and no dynamic section to resolve.
    Static,
    /// A position-independent executable that relocates itself (no interpreter).
    StaticPie,
    /// An executable run through an interpreter (the dynamic loader).
    Dynamic,
    /// A shared object without an interpreter: a library (or a loader).
    SharedLibrary,
    /// A relocatable object (`.o`) or a core dump: not loaded at all.
    Other,
}

impl Linking {
    pub fn as_str(self) -> &'static str {
        match self {
            Linking::Static => "static",
            Linking::StaticPie => "static-pie",
            Linking::Dynamic => "dynamic",
            Linking::SharedLibrary => "shared-library",
            Linking::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Elf {
    /// 32 or 64.
    pub class: u8,
    pub big_endian: bool,
    /// e_machine as a name (`x86-64`, `aarch64`...) or `machine-N`.
    pub machine: String,
    pub linking: Linking,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// DT_RUNPATH, else DT_RPATH, split at `:`.
    pub runpath: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("unknown ELF class {0}")]
    Class(u8),
    #[error("unknown ELF data encoding {0}")]
    Encoding(u8),
    #[error("truncated: {0} lies outside the file")]
    Truncated(&'static str),
    #[error("DT_STRTAB address {0:#x} is in no PT_LOAD segment")]
    StrtabUnmapped(u64),
}

/// Bounds-checked reads in the file's class and byte order.
struct Reader<'a> {
    b: &'a [u8],
    wide: bool,
    be: bool,
}

impl Reader<'_> {
    fn bytes(&self, at: u64, n: u64, what: &'static str) -> Result<&[u8], ElfError> {
        let end = at.checked_add(n).ok_or(ElfError::Truncated(what))?;
        if end > self.b.len() as u64 {
            return Err(ElfError::Truncated(what));
        }
        Ok(&self.b[at as usize..end as usize])
    }
    fn u16(&self, at: u64, what: &'static str) -> Result<u16, ElfError> {
        let s: [u8; 2] = self.bytes(at, 2, what)?.try_into().unwrap();
        Ok(if self.be { u16::from_be_bytes(s) } else { u16::from_le_bytes(s) })
    }
    fn u32(&self, at: u64, what: &'static str) -> Result<u32, ElfError> {
        let s: [u8; 4] = self.bytes(at, 4, what)?.try_into().unwrap();
        Ok(if self.be { u32::from_be_bytes(s) } else { u32::from_le_bytes(s) })
    }
    fn u64(&self, at: u64, what: &'static str) -> Result<u64, ElfError> {
        let s: [u8; 8] = self.bytes(at, 8, what)?.try_into().unwrap();
        Ok(if self.be { u64::from_be_bytes(s) } else { u64::from_le_bytes(s) })
    }
    /// A word of the file's class: 4 bytes in ELF32, 8 in ELF64.
    fn word(&self, at: u64, what: &'static str) -> Result<u64, ElfError> {
        if self.wide { self.u64(at, what) } else { self.u32(at, what).map(u64::from) }
    }
    /// A NUL-terminated string starting at `at` (to the end of the file if unterminated).
    fn cstr(&self, at: u64, limit: u64, what: &'static str) -> Result<String, ElfError> {
        let s = self.bytes(at, limit.min((self.b.len() as u64).saturating_sub(at)), what)?;
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        Ok(String::from_utf8_lossy(&s[..end]).into_owned())
    }
}

struct Phdr {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// True when `b` starts with the ELF magic.
pub fn is_elf(b: &[u8]) -> bool {
    b.starts_with(b"\x7fELF")
}

pub fn parse(b: &[u8]) -> Result<Elf, ElfError> {
    if !is_elf(b) {
        return Err(ElfError::NotElf);
    }
    if b.len() < 16 {
        return Err(ElfError::Truncated("e_ident"));
    }
    let wide = match b[4] {
        1 => false,
        2 => true,
        c => return Err(ElfError::Class(c)),
    };
    let be = match b[5] {
        1 => false,
        2 => true,
        d => return Err(ElfError::Encoding(d)),
    };
    let r = Reader { b, wide, be };
    let e_type = r.u16(16, "e_type")?;
    let machine = machine_name(r.u16(18, "e_machine")?);
    let (phoff, phentsize, phnum, entry) = if wide {
        (r.u64(0x20, "e_phoff")?, r.u16(0x36, "e_phentsize")?, r.u16(0x38, "e_phnum")?, r.u64(0x18, "e_entry")?)
    } else {
        (
            r.u32(0x1c, "e_phoff")? as u64,
            r.u16(0x2a, "e_phentsize")?,
            r.u16(0x2c, "e_phnum")?,
            r.u32(0x18, "e_entry")? as u64,
        )
    };
    let mut phdrs = Vec::with_capacity(phnum as usize);
    for i in 0..phnum as u64 {
        let at = phoff.checked_add(i * phentsize as u64).ok_or(ElfError::Truncated("program headers"))?;
        phdrs.push(if wide {
            Phdr {
                kind: r.u32(at, "program headers")?,
                offset: r.u64(at + 8, "program headers")?,
                vaddr: r.u64(at + 16, "program headers")?,
                filesz: r.u64(at + 32, "program headers")?,
            }
        } else {
            Phdr {
                kind: r.u32(at, "program headers")?,
                offset: r.u32(at + 4, "program headers")? as u64,
                vaddr: r.u32(at + 8, "program headers")? as u64,
                filesz: r.u32(at + 16, "program headers")? as u64,
            }
        });
    }
    let interpreter = match phdrs.iter().find(|p| p.kind == PT_INTERP) {
        Some(p) => Some(r.cstr(p.offset, p.filesz, "PT_INTERP")?),
        None => None,
    };
    let dynamic = match phdrs.iter().find(|p| p.kind == PT_DYNAMIC) {
        Some(p) => Some(read_dynamic(&r, p, &phdrs)?),
        None => None,
    };
    let dynamic = dynamic.unwrap_or_default();
    let linking = match e_type {
        _ if interpreter.is_some() => Linking::Dynamic,
        2 => Linking::Static,
        3 if dynamic.flags_1 & DF_1_PIE != 0 => Linking::StaticPie,
        // Without DF_1_PIE (older linkers): an entry point and nothing to load or name means a program.
        3 if dynamic.needed.is_empty() && !dynamic.soname && entry != 0 => Linking::StaticPie,
        3 => Linking::SharedLibrary,
        _ => Linking::Other,
    };
    Ok(Elf {
        class: if wide { 64 } else { 32 },
        big_endian: be,
        machine,
        linking,
        interpreter,
        needed: dynamic.needed,
        runpath: dynamic.runpath,
    })
}

#[derive(Default)]
struct Dynamic {
    needed: Vec<String>,
    runpath: Vec<String>,
    soname: bool,
    flags_1: u64,
}

fn read_dynamic(r: &Reader, dynp: &Phdr, phdrs: &[Phdr]) -> Result<Dynamic, ElfError> {
    let step = if r.wide { 16 } else { 8 };
    let (mut strtab, mut strsz) = (None, u64::MAX);
    let (mut needed, mut rpath, mut runpath) = (Vec::new(), None, None);
    let mut d = Dynamic::default();
    let mut at = dynp.offset;
    while at.saturating_add(step) <= dynp.offset.saturating_add(dynp.filesz) {
        let tag = r.word(at, "PT_DYNAMIC")?;
        let val = r.word(at + step / 2, "PT_DYNAMIC")?;
        at += step;
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(val),
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = val,
            DT_SONAME => d.soname = true,
            DT_RPATH => rpath = Some(val),
            DT_RUNPATH => runpath = Some(val),
            DT_FLAGS_1 => d.flags_1 = val,
            _ => {}
        }
    }
    let wants_strings = !needed.is_empty() || rpath.is_some() || runpath.is_some();
    let Some(addr) = strtab.filter(|_| wants_strings) else {
        return Ok(d);
    };
    // DT_STRTAB is a virtual address: find the loaded segment that holds it.
    let load = phdrs
        .iter()
        .find(|p| p.kind == PT_LOAD && p.vaddr <= addr && addr - p.vaddr < p.filesz)
        .ok_or(ElfError::StrtabUnmapped(addr))?;
    let base = load.offset + (addr - load.vaddr);
    let limit = strsz.min(load.filesz - (addr - load.vaddr));
    let string = |off: u64| -> Result<String, ElfError> {
        if off >= limit {
            return Err(ElfError::Truncated("a DT_STRTAB string"));
        }
        r.cstr(base + off, limit - off, "DT_STRTAB")
    };
    d.needed = needed.into_iter().map(string).collect::<Result<_, _>>()?;
    if let Some(off) = runpath.or(rpath) {
        d.runpath = string(off)?.split(':').filter(|s| !s.is_empty()).map(str::to_string).collect();
    }
    Ok(d)
}

pub fn machine_name(m: u16) -> String {
    let name = match m {
        2 => "sparc",
        3 => "x86",
        8 => "mips",
        20 => "powerpc",
        21 => "powerpc64",
        22 => "s390",
        40 => "arm",
        42 => "superh",
        43 => "sparcv9",
        62 => "x86-64",
        183 => "aarch64",
        243 => "riscv",
        258 => "loongarch",
        _ => return format!("machine-{m}"),
    };
    name.to_string()
}

/// The `machine_name` an image for the OCI architecture `arch` should have its ELF files built for
/// (`arm64` -> `aarch64`), where compose knows it.
pub fn machine_of_arch(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86-64",
        "arm64" => "aarch64",
        "386" => "x86",
        "arm" => "arm",
        "riscv64" => "riscv",
        "ppc64" | "ppc64le" => "powerpc64",
        "s390x" => "s390",
        "mips" | "mipsle" | "mips64" | "mips64le" => "mips",
        "loong64" => "loongarch",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
