//! `cargo xtask handlers` (owned by the guest-SDK work; placeholder).
use anyhow::Result;

#[derive(clap::Args, Default)]
pub struct Args {}

pub fn build(_args: &Args) -> Result<()> {
    anyhow::bail!("not yet written")
}
