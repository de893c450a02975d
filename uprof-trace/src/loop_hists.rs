//! User space's handle on the in-kernel loop histograms (`TracerOptions::aggregate_waits`):
//! the `LOOP_HISTS` map and its drop counter, taken out of the tracer so that the metrics
//! can read them on each scrape.
use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{HashMap, MapData, MapError, PerCpuArray},
};
use uprof_common::{HistKey, Log2Hist};

pub struct LoopHists {
    hists: HashMap<MapData, HistKey, Log2Hist>,
    drops: PerCpuArray<MapData, u64>,
}

impl LoopHists {
    pub(crate) fn take(ebpf: &mut Ebpf) -> Result<LoopHists> {
        let hists = ebpf
            .take_map("LOOP_HISTS")
            .context("LOOP_HISTS already taken")?;
        let drops = ebpf
            .take_map("LOOP_HIST_DROPS")
            .context("LOOP_HIST_DROPS already taken")?;
        Ok(LoopHists {
            hists: HashMap::try_from(hists)?,
            drops: PerCpuArray::try_from(drops)?,
        })
    }

    /// Every entry now.
    pub fn entries(&self) -> Vec<(HistKey, Log2Hist)> {
        self.hists.iter().filter_map(Result::ok).collect()
    }

    /// The entry of `key`, if the kernel made one.
    pub fn get(&self, key: &HistKey) -> Option<Log2Hist> {
        self.hists.get(key, 0).ok()
    }

    /// Removes the entry of `key` (one of a thread that exited).
    pub fn remove(&mut self, key: &HistKey) -> Result<()> {
        match self.hists.remove(key) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Durations the kernel could not count for want of room in the map.
    pub fn drops(&self) -> u64 {
        self.drops
            .get(&0, 0)
            .map(|counts| counts.iter().copied().fold(0, u64::saturating_add))
            .unwrap_or(0)
    }
}
