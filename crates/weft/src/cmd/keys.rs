//! `weft genkey` and `weft pubkey`: WireGuard keys, in `wg genkey` / `wg
//! pubkey` format (base64), so keys move freely between Weft and WireGuard.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use weft_dataplane::wg::{generate_private_key, public_key};
use weft_types::PrivateKey;

/// Prints a new private key.
pub(crate) fn genkey() -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", generate_private_key().to_base64())?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a private key on standard input and prints its public key.
pub(crate) fn pubkey() -> Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading a private key from standard input")?;
    let line = text.trim();
    if line.is_empty() {
        bail!("no private key on standard input (try: weft genkey | weft pubkey)");
    }
    let key =
        PrivateKey::from_base64(line).context("standard input is not a WireGuard private key")?;
    println!("{}", public_key(&key).to_base64());
    Ok(ExitCode::SUCCESS)
}
