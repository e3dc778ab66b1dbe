//! `dynoprobe fixtures`: rebuild the shipped payload, its ciphertext, key and IV.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use dynoprobe::workload::fixture::{IV, KEY, encrypt_cbc, to_hex};
use dynoprobe::workload::payload::generate_json;

#[derive(Debug, clap::Args)]
pub struct FixturesArgs {
    /// Directory to write into (or to compare with --check).
    #[arg(long, value_name = "DIR", default_value = "fixtures")]
    out: PathBuf,
    /// Do not write: compare the files in DIR with freshly generated ones; fail on a difference.
    #[arg(long)]
    check: bool,
}

pub fn fixtures(args: FixturesArgs) -> anyhow::Result<()> {
    let json = generate_json();
    let files = [
        ("payload.json", json.clone()),
        ("payload.json.enc", encrypt_cbc(&json)),
        (
            "payload.key.hex",
            format!("{}\n", to_hex(&KEY)).into_bytes(),
        ),
        ("payload.iv.hex", format!("{}\n", to_hex(&IV)).into_bytes()),
    ];
    if args.check {
        return check(&args.out, &files);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (name, bytes) in &files {
        let path = args.out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        outln!("wrote {} ({} bytes)", path.display(), bytes.len())?;
    }
    Ok(())
}

fn check(dir: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let mut differ = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        let on_disk =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if &on_disk == bytes {
            outln!("same: {}", path.display())?;
        } else {
            differ.push(path.display().to_string());
        }
    }
    if !differ.is_empty() {
        bail!("differ from the generator's output: {}", differ.join(", "));
    }
    Ok(())
}
