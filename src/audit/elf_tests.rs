use super::*;

/// What a hand-made ELF should contain.
#[derive(Default)]
struct Spec<'a> {
    wide: bool,
    be: bool,
    e_type: u16,
    machine: u16,
    entry: u64,
    interp: Option<&'a str>,
    needed: &'a [&'a str],
    runpath: Option<&'a str>,
    flags_1: Option<u64>,
    /// Point DT_STRTAB at an address no PT_LOAD maps.
    bad_strtab: bool,
}

const BASE: u64 = 0x40_0000;

/// Lays out: ELF header, program headers (PT_LOAD over the whole file at BASE, then PT_INTERP and
/// PT_DYNAMIC when wanted), the string table, the interpreter, the dynamic section.
fn build(s: &Spec) -> Vec<u8> {
    let (ehsize, phentsize): (u64, u64) = if s.wide { (64, 56) } else { (52, 32) };
    let dynamic = !s.needed.is_empty() || s.flags_1.is_some() || s.runpath.is_some();
    let phnum = 1 + s.interp.is_some() as u64 + dynamic as u64;
    let strtab_off = ehsize + phnum * phentsize;
    let mut strtab = vec![0u8];
    let mut add = |t: &str| {
        let at = strtab.len() as u64;
        strtab.extend_from_slice(t.as_bytes());
        strtab.push(0);
        at
    };
    let needed_offs: Vec<u64> = s.needed.iter().map(|n| add(n)).collect();
    let runpath_off = s.runpath.map(add);
    let interp_off = strtab_off + strtab.len() as u64;
    let interp_bytes: Vec<u8> = s.interp.map(|i| [i.as_bytes(), b"\0"].concat()).unwrap_or_default();
    let dyn_off = interp_off + interp_bytes.len() as u64;
    let mut dyns: Vec<(u64, u64)> = needed_offs.iter().map(|&o| (DT_NEEDED, o)).collect();
    if let Some(o) = runpath_off {
        dyns.push((DT_RUNPATH, o));
    }
    let strtab_addr = if s.bad_strtab { 0x10 } else { BASE + strtab_off };
    dyns.push((DT_STRTAB, strtab_addr));
    dyns.push((DT_STRSZ, strtab.len() as u64));
    if let Some(f) = s.flags_1 {
        dyns.push((DT_FLAGS_1, f));
    }
    dyns.push((DT_NULL, 0));
    let word = if s.wide { 8 } else { 4 };
    let dyn_size = if dynamic { dyns.len() as u64 * 2 * word } else { 0 };
    let total = dyn_off + dyn_size;

    let mut b = Vec::new();
    let put = |b: &mut Vec<u8>, v: u64, n: usize| {
        let bytes = v.to_be_bytes();
        let mut chunk = bytes[8 - n..].to_vec();
        if !s.be {
            chunk.reverse();
        }
        b.extend_from_slice(&chunk);
    };
    b.extend_from_slice(b"\x7fELF");
    b.extend_from_slice(&[if s.wide { 2 } else { 1 }, if s.be { 2 } else { 1 }, 1, 0]);
    b.extend_from_slice(&[0; 8]);
    put(&mut b, s.e_type as u64, 2);
    put(&mut b, s.machine as u64, 2);
    put(&mut b, 1, 4);
    put(&mut b, s.entry, word as usize); // e_entry
    put(&mut b, ehsize, word as usize); // e_phoff
    put(&mut b, 0, word as usize); // e_shoff
    put(&mut b, 0, 4); // e_flags
    put(&mut b, ehsize, 2);
    put(&mut b, phentsize, 2);
    put(&mut b, phnum, 2);
    put(&mut b, 0, 2);
    put(&mut b, 0, 2);
    put(&mut b, 0, 2);
    assert_eq!(b.len() as u64, ehsize);
    let phdr = |b: &mut Vec<u8>, kind: u32, offset: u64, size: u64| {
        let w = word as usize;
        if s.wide {
            put(b, kind as u64, 4);
            put(b, 5, 4); // flags
            put(b, offset, w);
            put(b, BASE + offset, w);
            put(b, BASE + offset, w);
            put(b, size, w);
            put(b, size, w);
            put(b, 0x1000, w);
        } else {
            put(b, kind as u64, 4);
            put(b, offset, w);
            put(b, BASE + offset, w);
            put(b, BASE + offset, w);
            put(b, size, w);
            put(b, size, w);
            put(b, 5, 4);
            put(b, 0x1000, w);
        }
    };
    phdr(&mut b, PT_LOAD, 0, total);
    if s.interp.is_some() {
        phdr(&mut b, PT_INTERP, interp_off, interp_bytes.len() as u64);
    }
    if dynamic {
        phdr(&mut b, PT_DYNAMIC, dyn_off, dyn_size);
    }
    assert_eq!(b.len() as u64, strtab_off);
    b.extend_from_slice(&strtab);
    b.extend_from_slice(&interp_bytes);
    if dynamic {
        for (t, v) in &dyns {
            put(&mut b, *t, word as usize);
            put(&mut b, *v, word as usize);
        }
    }
    assert_eq!(b.len() as u64, total);
    b
}

#[test]
fn static_executable_64_le() {
    let e = parse(&build(&Spec { wide: true, e_type: 2, machine: 62, entry: 0x401000, ..Default::default() })).unwrap();
    assert_eq!((e.class, e.big_endian, e.machine.as_str(), e.linking), (64, false, "x86-64", Linking::Static));
    assert_eq!((e.interpreter, e.needed.len()), (None, 0));
}

#[test]
fn dynamic_executable_64_le_with_needed_and_runpath() {
    let e = parse(&build(&Spec {
        wide: true,
        e_type: 3,
        machine: 183,
        entry: 0x1000,
        interp: Some("/lib/ld-musl-aarch64.so.1"),
        needed: &["libz.so.1", "libc.so"],
        runpath: Some("/opt/lib:$ORIGIN/../lib"),
        flags_1: Some(DF_1_PIE),
        ..Default::default()
    }))
    .unwrap();
    assert_eq!(e.linking, Linking::Dynamic, "an interpreter wins over DF_1_PIE");
    assert_eq!(e.machine, "aarch64");
    assert_eq!(e.interpreter.as_deref(), Some("/lib/ld-musl-aarch64.so.1"));
    assert_eq!(e.needed, ["libz.so.1", "libc.so"]);
    assert_eq!(e.runpath, ["/opt/lib", "$ORIGIN/../lib"]);
}

#[test]
fn dynamic_executable_32_be() {
    let e = parse(&build(&Spec {
        wide: false,
        be: true,
        e_type: 2,
        machine: 8,
        entry: 0x400100,
        interp: Some("/lib/ld.so.1"),
        needed: &["libc.so.6"],
        ..Default::default()
    }))
    .unwrap();
    assert_eq!((e.class, e.big_endian, e.machine.as_str()), (32, true, "mips"));
    assert_eq!((e.linking, e.needed.as_slice()), (Linking::Dynamic, &["libc.so.6".to_string()][..]));
    assert_eq!(e.interpreter.as_deref(), Some("/lib/ld.so.1"));
}

#[test]
fn static_pie_by_flag_and_shared_library() {
    let pie = Spec { wide: true, e_type: 3, machine: 62, entry: 0x1040, flags_1: Some(DF_1_PIE), ..Default::default() };
    assert_eq!(parse(&build(&pie)).unwrap().linking, Linking::StaticPie);
    let lib = Spec { wide: false, e_type: 3, machine: 3, needed: &["libc.so.6"], ..Default::default() };
    let e = parse(&build(&lib)).unwrap();
    assert_eq!((e.linking, e.class, e.machine.as_str()), (Linking::SharedLibrary, 32, "x86"));
    assert_eq!(e.needed, ["libc.so.6"]);
    let obj = Spec { wide: true, e_type: 1, machine: 62, ..Default::default() };
    assert_eq!(parse(&build(&obj)).unwrap().linking, Linking::Other);
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let good = build(&Spec {
        wide: true,
        e_type: 2,
        machine: 62,
        interp: Some("/lib/ld"),
        needed: &["a"],
        ..Default::default()
    });
    for cut in [3, 10, 20, 63, 70, 120, good.len() - 3] {
        assert!(parse(&good[..cut]).is_err(), "cut at {cut} parsed");
    }
    let mut bad_class = good.clone();
    bad_class[4] = 7;
    assert_eq!(parse(&bad_class), Err(ElfError::Class(7)));
    assert_eq!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
    let unmapped = build(&Spec { wide: true, e_type: 3, needed: &["x"], bad_strtab: true, ..Default::default() });
    assert_eq!(parse(&unmapped), Err(ElfError::StrtabUnmapped(0x10)));
    // A program header table that claims 65535 entries far beyond the end.
    let mut huge = good.clone();
    huge[0x38] = 0xff;
    huge[0x39] = 0xff;
    assert!(matches!(parse(&huge), Err(ElfError::Truncated(_))));
}

#[test]
fn host_ls_is_dynamic_and_needs_libc() {
    let bytes = std::fs::read("/bin/ls").expect("the host has /bin/ls");
    let e = parse(&bytes).unwrap();
    assert_eq!(e.linking, Linking::Dynamic);
    assert!(e.needed.iter().any(|n| n == "libc.so.6"), "{:?}", e.needed);
    let interp = e.interpreter.expect("an interpreter");
    assert!(interp.starts_with("/lib") && interp.contains("ld-linux"), "{interp}");
    assert_eq!(e.class, if cfg!(target_pointer_width = "64") { 64 } else { 32 });
}

/// The machine summary from real ELF headers: a rootfs tar of hand-made executables for two machines
/// (and a script), read and analysed as `compose audit` does.
#[test]
fn machines_are_counted_from_the_elf_headers_of_an_image() {
    let aarch64 = build(&Spec { wide: true, e_type: 2, machine: 183, entry: 0x401000, ..Default::default() });
    let riscv = build(&Spec {
        wide: true,
        e_type: 3,
        machine: 243,
        entry: 0x1000,
        flags_1: Some(DF_1_PIE),
        ..Default::default()
    });
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in [
        ("bin/a", &aarch64[..]),
        ("bin/b", &aarch64[..]),
        ("sbin/c", &aarch64[..]),
        ("bin/r", &riscv[..]),
        ("bin/sh.txt", &b"#!/bin/sh\n"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(body.len() as u64);
        b.append_data(&mut h, path, body).unwrap();
    }
    let d = tempfile::tempdir().unwrap();
    let tar = d.path().join("img.tar");
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    let image = crate::audit::open(&tar, Default::default()).unwrap();
    let a = crate::audit::analyse(&image, None);
    let counts: Vec<(&str, usize)> = a.machines.iter().map(|(m, n)| (m.as_str(), *n)).collect();
    assert_eq!(counts, [("aarch64", 3), ("riscv", 1)]);
    let text = crate::audit::text(&a);
    assert!(text.contains("\nmachine: aarch64 (3 ELF files), riscv (1 ELF file)\n"), "{text}");
    assert!(text.contains("\nWARNING: ELF files for 2 machines"), "{text}");
    assert!(text.contains("  /bin/r  64-bit LSB riscv  static-pie"), "{text}");
}

#[test]
fn oci_architectures_map_to_elf_machines() {
    for (arch, machine) in [("amd64", 62), ("arm64", 183), ("riscv64", 243), ("386", 3), ("arm", 40), ("s390x", 22)] {
        assert_eq!(machine_of_arch(arch), Some(machine_name(machine).as_str()), "{arch}");
    }
    assert_eq!(machine_of_arch("wasm"), None);
}
