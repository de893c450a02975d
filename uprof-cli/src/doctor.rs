//! `uprof doctor`: prints what the kernel allows and the tier `uprof record` will use.
use anyhow::Result;

pub fn run() -> Result<()> {
    print!("{}", uprof_trace::doctor::diagnose()?);
    Ok(())
}
