//! Loading and attaching one program of uprof's object, for each kind of probe.
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    programs::{BtfTracePoint, FEntry, FExit, KProbe, Program, TracePoint},
};

use crate::btf;

/// Program `name` of the object.
pub(crate) fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Program> {
    ebpf.program_mut(name)
        .with_context(|| format!("program {name} missing from uprof's eBPF object"))
}

/// Loads fentry program `program` against kernel function `function`, and attaches it.
pub(crate) fn fentry(ebpf: &mut Ebpf, program: &str, function: &str) -> Result<()> {
    let fentry: &mut FEntry = self::program(ebpf, program)?.try_into()?;
    fentry
        .load(function, &*btf::aya_kernel()?)
        .context("the kernel refused to load the fentry program")?;
    fentry
        .attach()
        .context("cannot attach the fentry program")?;
    Ok(())
}

/// Loads fexit program `program` against kernel function `function`, and attaches it.
pub(crate) fn fexit(ebpf: &mut Ebpf, program: &str, function: &str) -> Result<()> {
    let fexit: &mut FExit = self::program(ebpf, program)?.try_into()?;
    fexit
        .load(function, &*btf::aya_kernel()?)
        .context("the kernel refused to load the fexit program")?;
    fexit.attach().context("cannot attach the fexit program")?;
    Ok(())
}

/// Loads kprobe program `program` and attaches it to kernel function `function`.
pub(crate) fn kprobe(ebpf: &mut Ebpf, program: &str, function: &str) -> Result<()> {
    let kprobe: &mut KProbe = self::program(ebpf, program)?.try_into()?;
    kprobe
        .load()
        .context("the kernel refused to load the kprobe program")?;
    kprobe
        .attach(function, 0)
        .context("cannot attach the kprobe")?;
    Ok(())
}

/// Loads BTF tracepoint program `program` against tracepoint `tracepoint`, and attaches it.
pub(crate) fn tp_btf(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<()> {
    let btf = btf::aya_kernel()?;
    let tp_btf: &mut BtfTracePoint = self::program(ebpf, program)?.try_into()?;
    tp_btf.load(tracepoint, &btf).with_context(|| {
        format!("the kernel refused to load the tp_btf program on {tracepoint}")
    })?;
    tp_btf
        .attach()
        .with_context(|| format!("cannot attach the tp_btf program on {tracepoint}"))?;
    Ok(())
}

/// Loads tracepoint program `program` and attaches it to tracepoint `category:name`.
pub(crate) fn tracepoint(
    ebpf: &mut Ebpf,
    tracefs: &Path,
    program: &str,
    category: &str,
    name: &str,
) -> Result<()> {
    if !tracefs.join("events").join(category).join(name).is_dir() {
        bail!("this kernel has no such tracepoint");
    }
    let tracepoint: &mut TracePoint = self::program(ebpf, program)?.try_into()?;
    tracepoint
        .load()
        .context("the kernel refused to load the program")?;
    tracepoint.attach(category, name)?;
    Ok(())
}

/// Unloads (and so detaches) fentry or fexit program `name`; nothing if it was never loaded.
pub(crate) fn unload_function_hook(ebpf: &mut Ebpf, name: &str) {
    let _ = match ebpf.program_mut(name) {
        Some(Program::FEntry(p)) => p.unload(),
        Some(Program::FExit(p)) => p.unload(),
        _ => Ok(()),
    };
}

/// Unloads (and so detaches) every program of the object, all at once: the kernel waits for
/// RCU grace periods (tens of milliseconds) to detach each one, and concurrent detaches share
/// them, so one after the other they took seconds at every exit. A program whose thread cannot
/// be started is left to the object's drop, which detaches it the same way, only later.
pub(crate) fn unload_all(ebpf: &mut Ebpf) {
    std::thread::scope(|scope| {
        for (_, program) in ebpf.programs_mut() {
            let _ = std::thread::Builder::new()
                .name("uprof-detach".into())
                .spawn_scoped(scope, move || unload(program));
        }
    });
}

/// Unloads one program of any kind uprof's object holds.
fn unload(program: &mut Program) {
    let _ = match program {
        Program::TracePoint(p) => p.unload(),
        Program::BtfTracePoint(p) => p.unload(),
        Program::FEntry(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        Program::KProbe(p) => p.unload(),
        Program::UProbe(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        // Kinds uprof does not use: dropped with the object.
        _ => Ok(()),
    };
}
