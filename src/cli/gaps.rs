//! `--gaps FILE`: every attributed gap of the spin, one JSON object per line (see
//! [`dynoprobe::jitter::gap_log`]). The file is made before the measuring starts, so a bad
//! path does not cost a run.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use dynoprobe::jitter::Jitter;

#[derive(Debug, Clone, clap::Args)]
pub struct GapsArgs {
    /// Also write every attributed gap to FILE, one JSON object per line: cpu, tid,
    /// start_mono_ns (CLOCK_MONOTONIC), start_tsc, len_ns, cause, and the thread's counters
    /// that decided it.
    #[arg(long, value_name = "FILE")]
    gaps: Option<PathBuf>,
}

/// The gap log's file, made (truncated) now.
pub struct GapsFile(Option<(PathBuf, std::fs::File)>);

impl GapsArgs {
    pub fn create(&self) -> anyhow::Result<GapsFile> {
        let Some(path) = &self.gaps else {
            return Ok(GapsFile(None));
        };
        let file = std::fs::File::create(path)
            .with_context(|| format!("--gaps {}: cannot create it", path.display()))?;
        Ok(GapsFile(Some((path.clone(), file))))
    }
}

impl GapsFile {
    /// Writes the gaps of every spin, one line each, and says where on stderr.
    pub fn write<'a>(self, spins: impl IntoIterator<Item = &'a Jitter>) -> anyhow::Result<()> {
        let Some((path, file)) = self.0 else {
            return Ok(());
        };
        let mut out = std::io::BufWriter::new(file);
        let mut lines = 0;
        for gap in spins.into_iter().flat_map(|j| &j.gap_log) {
            let line = format!("{}\n", serde_json::to_string(gap)?);
            out.write_all(line.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            lines += 1;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("dynoprobe: wrote {lines} gaps to {}", path.display());
        Ok(())
    }
}
