//! `--html FILE` and `--svg DIR`: a report's charts as a self-contained page, or as bare
//! SVG files. Paths are checked before the measuring starts, so a typo does not cost a run.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::render::charts::Chart;
use dynoprobe::render::html::page;

#[derive(Debug, Clone, clap::Args)]
pub struct PictureArgs {
    /// Also write the report as one self-contained HTML page (charts and the text report;
    /// no script, nothing fetched) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also write each chart as an SVG file into DIR (made if missing).
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
}

impl PictureArgs {
    /// Fails now if the page or the charts could not be written later.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Some(file) = &self.html {
            if file.is_dir() {
                bail!("--html {}: is a directory; name a file", file.display());
            }
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = parent.filter(|d| !d.is_dir()) {
                bail!("--html {}: no directory {}", file.display(), dir.display());
            }
        }
        if let Some(dir) = &self.svg {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--svg {}: cannot make the directory", dir.display()))?;
        }
        Ok(())
    }

    /// Writes the page and the charts that were asked for, and says where on stderr.
    pub fn write(
        &self,
        title: &str,
        verdict: &str,
        charts: &[Chart],
        text: &str,
    ) -> anyhow::Result<()> {
        if let Some(file) = &self.html {
            write(file, &page(title, verdict, charts, text))?;
            eprintln!(
                "dynoprobe: wrote {} ({} charts)",
                file.display(),
                charts.len()
            );
        }
        if let Some(dir) = &self.svg {
            for chart in charts {
                write(&dir.join(format!("{}.svg", chart.name)), &chart.svg)?;
            }
            eprintln!(
                "dynoprobe: wrote {} charts into {}",
                charts.len(),
                dir.display()
            );
        }
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
