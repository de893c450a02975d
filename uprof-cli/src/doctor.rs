//! `uprof doctor`: prints what the kernel allows and the tier `uprof record` will use; fails
//! when `uprof record` cannot run at all.
use anyhow::{Result, bail};

pub fn run() -> Result<()> {
    let diagnosis = uprof_trace::doctor::diagnose()?;
    print!("{diagnosis}");
    if !diagnosis.can_record() {
        bail!("uprof record cannot run here (see tracefs above)");
    }
    Ok(())
}
