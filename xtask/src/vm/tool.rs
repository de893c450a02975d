//! Running the host tools the VM matrix is built from (apt-get, dpkg, ldd, cpio, gzip).

use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// Runs `cmd` to completion and returns its stdout; a non-zero exit becomes an error that
/// carries the command line and its stderr.
pub fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let output = output(cmd)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// Runs `cmd` to completion and returns everything it produced, whatever its exit status.
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .with_context(|| format!("cannot run `{}`", describe(cmd)))
}

/// The command line of `cmd`, for error messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
