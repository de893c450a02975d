//! The VM's root file system: a gzip-compressed newc cpio archive holding busybox, `/init`
//! (init.sh), and the payload (host files plus the shared libraries `ldd` lists for them).
//!
//! Layout inside the VM: `/bin` holds busybox and its applet links, `/payload` holds the payload
//! files under their base names and the script as `run.sh` (it is the working directory and comes
//! first in `PATH`), and libraries and the files placed at their host paths keep those paths.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::tool;

/// The statically linked busybox from Debian's `busybox-static` (a dynamic one also works: its
/// libraries are copied like any payload file's).
const BUSYBOX: &str = "/bin/busybox";
const INIT_SCRIPT: &str = include_str!("init.sh");

/// What a VM runs: files copied in and a shell script that runs them.
#[derive(Clone, Debug)]
pub struct Payload {
    /// Host files copied to `/payload/<file name>`; ELF executables bring their shared libraries.
    pub files: Vec<PathBuf>,
    /// Host files copied to the same absolute path inside the VM, for programs that find each
    /// other by paths baked in at build time (`env!("CARGO_BIN_EXE_...")`); ELF executables bring
    /// their shared libraries.
    pub at_host_paths: Vec<PathBuf>,
    /// The script's text, run with busybox `sh` from `/payload`. It reports results with the
    /// lines described in [`super::protocol`] and ends with `UPROF-DONE`.
    pub script: String,
}

/// Builds the archive for `payload` as `<out_dir>/initramfs.cpio.gz`, staging its tree in
/// `<out_dir>/initramfs-root`, and returns the archive's path.
pub fn build(payload: &Payload, out_dir: &Path) -> Result<PathBuf> {
    let root = out_dir.join("initramfs-root");
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("cannot clear {}", root.display()))?;
    }
    for dir in ["bin", "dev", "proc", "sys", "tmp", "payload"] {
        fs::create_dir_all(root.join(dir))
            .with_context(|| format!("cannot create {}", root.display()))?;
    }

    let mut libraries = BTreeSet::new();
    install(
        Path::new(BUSYBOX),
        &root.join("bin/busybox"),
        &mut libraries,
    )?;
    link_applets(&root)?;
    write_executable(&root.join("init"), INIT_SCRIPT)?;
    write_executable(&root.join("payload/run.sh"), &payload.script)?;
    for file in &payload.files {
        let name = file
            .file_name()
            .with_context(|| format!("{} names no file", file.display()))?;
        let target = root.join("payload").join(name);
        if target.exists() {
            bail!("two payload files are named {}", name.to_string_lossy());
        }
        install(file, &target, &mut libraries)?;
    }
    for file in &payload.at_host_paths {
        let relative = file
            .strip_prefix("/")
            .with_context(|| format!("{} is not an absolute path", file.display()))?;
        let target = root.join(relative);
        if target.symlink_metadata().is_ok() {
            bail!("{} is already in the initramfs", file.display());
        }
        fs::create_dir_all(target.parent().expect("an absolute file path has a parent"))
            .with_context(|| format!("cannot create the directory of {}", target.display()))?;
        install(file, &target, &mut libraries)?;
    }
    for library in &libraries {
        let relative = library.strip_prefix("/").unwrap_or(library);
        let target = root.join(relative);
        fs::create_dir_all(target.parent().expect("library path has a parent"))?;
        // `fs::copy` follows symlinks: the soname gets the library's contents.
        fs::copy(library, &target).with_context(|| format!("cannot copy {}", library.display()))?;
    }

    let archive = out_dir.join("initramfs.cpio.gz");
    pack(&root, &archive)?;
    Ok(archive)
}

/// Copies `source` to `target` (keeping its permissions) and adds the libraries it needs.
fn install(source: &Path, target: &Path, libraries: &mut BTreeSet<PathBuf>) -> Result<()> {
    fs::copy(source, target)
        .with_context(|| format!("cannot copy payload file {}", source.display()))?;
    libraries.extend(shared_libraries(source)?);
    Ok(())
}

/// The shared libraries (and dynamic loader) an ELF file needs; none for other files and for
/// statically linked executables.
fn shared_libraries(file: &Path) -> Result<Vec<PathBuf>> {
    let mut magic = [0u8; 4];
    let is_elf = File::open(file)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == *b"\x7fELF";
    if !is_elf {
        return Ok(Vec::new());
    }
    let output = tool::output(Command::new("ldd").arg(file))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    if errors.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        bail!("ldd {} failed: {}", file.display(), errors.trim());
    }
    parse_ldd(&text).with_context(|| format!("libraries of {}", file.display()))
}

/// The library paths in `ldd` output: `name => /path (0x...)` lines and the loader's
/// `/path (0x...)` line; the vDSO has no file and is skipped.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let location = match line.split_once("=>") {
            Some((name, location)) => {
                let location = location.trim();
                if location.starts_with("not found") {
                    bail!("ldd cannot find {}", name.trim());
                }
                location
            }
            None => line,
        };
        let path = location.split(" (").next().unwrap_or(location).trim();
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

/// Links every applet busybox offers to `/bin/busybox` (the archive then needs no
/// `busybox --install` at boot).
fn link_applets(root: &Path) -> Result<()> {
    let list = tool::run(Command::new(BUSYBOX).arg("--list"))?;
    for applet in String::from_utf8_lossy(&list)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let link = root.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
        }
    }
    Ok(())
}

fn write_executable(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `find . | cpio -o -H newc | gzip`, with the file list made here (parents before children).
fn pack(root: &Path, archive: &Path) -> Result<()> {
    let mut entries = Vec::new();
    list_tree(root, Path::new(""), &mut entries)?;
    let list_path = root.with_extension("list");
    let mut list = Vec::new();
    for entry in &entries {
        list.extend_from_slice(entry.as_os_str().as_encoded_bytes());
        list.push(0);
    }
    fs::write(&list_path, list).with_context(|| format!("cannot write {}", list_path.display()))?;

    let mut cpio = Command::new("cpio");
    cpio.args([
        "--create",
        "--null",
        "--format=newc",
        "--owner=0:0",
        "--quiet",
    ])
    .current_dir(root)
    .stdin(File::open(&list_path)?)
    .stdout(Stdio::piped());
    let mut cpio_child = cpio
        .spawn()
        .with_context(|| format!("cannot run `{}`", tool::describe(&cpio)))?;
    let cpio_out = cpio_child.stdout.take().expect("cpio stdout is piped");
    let mut gzip = Command::new("gzip");
    gzip.arg("-1").stdin(cpio_out).stdout(
        File::create(archive).with_context(|| format!("cannot create {}", archive.display()))?,
    );
    let gzip_status = gzip
        .status()
        .with_context(|| format!("cannot run `{}`", tool::describe(&gzip)))?;
    let cpio_status = cpio_child.wait()?;
    if !cpio_status.success() || !gzip_status.success() {
        bail!(
            "packing {} failed (cpio: {cpio_status}, gzip: {gzip_status})",
            root.display()
        );
    }
    fs::remove_file(&list_path)?;
    Ok(())
}

/// Appends the paths under `root/relative`, relative to `root`, each directory before its
/// contents, in name order (so archives of the same payload are identical).
fn list_tree(root: &Path, relative: &Path, entries: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(relative);
    let mut names = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort();
    for name in names {
        let path = relative.join(&name);
        entries.push(path.clone());
        if root.join(&path).symlink_metadata()?.is_dir() {
            list_tree(root, &path, entries)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd_output_with_loader_and_symlinked_sonames() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd2b3f2000)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0e9c1d0000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e9bfef000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f0e9c232000)\n";
        let expected: Vec<PathBuf> = [
            "/lib/x86_64-linux-gnu/libgcc_s.so.1",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(parse_ldd(text).unwrap(), expected);
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let text =
            "\tlibbpf.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n";
        let error = parse_ldd(text).unwrap_err();
        assert_eq!(error.to_string(), "ldd cannot find libbpf.so.1");
    }

    /// Builds a real archive with a dynamically linked payload file and reads it back with cpio.
    #[test]
    fn archive_holds_init_busybox_payload_and_libraries() {
        let out = std::env::temp_dir().join(format!("xtask-initramfs-test-{}", std::process::id()));
        fs::create_dir_all(&out).unwrap();
        let placed = out.join("placed/deep/tool");
        fs::create_dir_all(placed.parent().unwrap()).unwrap();
        fs::write(&placed, "placed at its host path").unwrap();
        let payload = Payload {
            files: vec![PathBuf::from("/bin/ls")],
            at_host_paths: vec![placed.clone()],
            script: "echo UPROF-DONE\n".to_owned(),
        };
        let archive = build(&payload, &out).unwrap();

        let listing = archive_command(&archive, "--list");
        let names: BTreeSet<&str> = listing.lines().collect();
        let mut expected = vec![
            "init".to_owned(),
            "bin/busybox".to_owned(),
            "bin/sh".to_owned(),
            "bin/poweroff".to_owned(),
            "payload/run.sh".to_owned(),
            "payload/ls".to_owned(),
        ];
        let ldd = tool::run(Command::new("ldd").arg("/bin/ls")).unwrap();
        let libraries = parse_ldd(&String::from_utf8_lossy(&ldd)).unwrap();
        assert!(!libraries.is_empty(), "/bin/ls is dynamically linked");
        expected.extend(
            libraries
                .iter()
                .map(|l| l.to_string_lossy().trim_start_matches('/').to_owned()),
        );
        for name in &expected {
            assert!(
                names.contains(name.as_str()),
                "{name} missing from {listing}"
            );
        }
        assert_eq!(
            archive_command(&archive, "--extract --to-stdout payload/run.sh"),
            payload.script
        );
        assert_eq!(
            archive_command(&archive, "--extract --to-stdout init"),
            INIT_SCRIPT
        );
        let placed_name = placed.to_string_lossy().trim_start_matches('/').to_owned();
        assert_eq!(
            archive_command(&archive, &format!("--extract --to-stdout '{placed_name}'")),
            "placed at its host path"
        );
        fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn a_host_path_file_may_not_replace_a_busybox_applet() {
        let out =
            std::env::temp_dir().join(format!("xtask-initramfs-clash-{}", std::process::id()));
        fs::create_dir_all(&out).unwrap();
        let payload = Payload {
            files: Vec::new(),
            at_host_paths: vec![PathBuf::from("/bin/sh")],
            script: "echo UPROF-DONE\n".to_owned(),
        };
        let error = build(&payload, &out).unwrap_err();
        assert_eq!(error.to_string(), "/bin/sh is already in the initramfs");
        fs::remove_dir_all(&out).unwrap();
    }

    /// Runs `cpio <args>` on the decompressed archive and returns its output.
    fn archive_command(archive: &Path, args: &str) -> String {
        let script = format!("gzip -dc '{}' | cpio --quiet {args}", archive.display());
        let output = tool::run(Command::new("sh").arg("-c").arg(script)).unwrap();
        String::from_utf8(output).unwrap()
    }
}
