//! A profile as a QR code (phones import `wg-quick` configurations from
//! one): the matrix from the `qrcode` crate, drawn as a PNG ([`super::png`])
//! or with half-block characters on a terminal.

use anyhow::{Context, Result};
use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code, as the QR specification asks.
pub(crate) const QUIET: usize = 4;
/// Pixels per module in the PNG.
pub(crate) const SCALE: usize = 8;

/// The QR code of `text` (error correction M, which phones read well from a screen).
pub(crate) fn code(text: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .context("the profile is too long for a QR code")
}

/// Whether module (`x`, `y`) of the code with its quiet zone is dark.
fn dark(code: &QrCode, x: usize, y: usize) -> bool {
    let w = code.width();
    (QUIET..QUIET + w).contains(&x)
        && (QUIET..QUIET + w).contains(&y)
        && code[(x - QUIET, y - QUIET)] == Color::Dark
}

/// The code as a PNG, [`SCALE`] pixels per module, quiet zone included.
pub(crate) fn png(code: &QrCode) -> Vec<u8> {
    let side = (code.width() + 2 * QUIET) * SCALE;
    let side32 = u32::try_from(side).unwrap_or(u32::MAX);
    super::png::encode(side32, side32, |x, y| dark(code, x as usize / SCALE, y as usize / SCALE))
}

/// The code for a terminal: two modules per character cell (upper and
/// lower half blocks), light on dark terminals and dark ones alike because
/// it draws the light modules.
pub(crate) fn terminal(code: &QrCode) -> String {
    let side = code.width() + 2 * QUIET;
    let mut out = String::new();
    for y in (0..side).step_by(2) {
        for x in 0..side {
            let top = !dark(code, x, y);
            let bottom = y + 1 < side && !dark(code, x, y + 1);
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the 7×7 finder pattern's rings are where they belong, with
    /// its top-left module at (`x`, `y`) of `m`.
    fn finder_at(m: &[Vec<bool>], x: usize, y: usize) -> bool {
        (0..7).all(|dy| {
            (0..7).all(|dx| {
                let ring = dx.min(dy).min(6 - dx).min(6 - dy);
                m[y + dy][x + dx] == (ring != 1)
            })
        })
    }

    #[test]
    fn the_png_has_the_codes_size_and_its_three_finder_patterns() {
        let text = "[Interface]\nPrivateKey = x\nAddress = 100.96.0.2/32\n";
        let code = code(text).unwrap();
        let png = png(&code);
        let px = super::super::png::tests::pixels(&png);
        let side = (code.width() + 2 * QUIET) * SCALE;
        assert_eq!((px.len(), px[0].len()), (side, side));
        // One sample per module (its centre).
        let modules: Vec<Vec<bool>> = (0..side / SCALE)
            .map(|y| {
                (0..side / SCALE)
                    .map(|x| px[y * SCALE + SCALE / 2][x * SCALE + SCALE / 2])
                    .collect()
            })
            .collect();
        let w = code.width();
        assert!(finder_at(&modules, QUIET, QUIET), "top left");
        assert!(finder_at(&modules, QUIET + w - 7, QUIET), "top right");
        assert!(finder_at(&modules, QUIET, QUIET + w - 7), "bottom left");
        assert!(!finder_at(&modules, QUIET + w - 7, QUIET + w - 7), "none bottom right");
        assert!(
            modules[0].iter().all(|d| !d) && modules[side / SCALE - 1].iter().all(|d| !d),
            "quiet zone"
        );
        // Every pixel of a module has its colour.
        for y in 0..side {
            for x in 0..side {
                assert_eq!(px[y][x], modules[y / SCALE][x / SCALE], "pixel ({x},{y})");
            }
        }
    }

    #[test]
    fn the_terminal_drawing_has_two_modules_per_line() {
        let code = code("hello").unwrap();
        let t = terminal(&code);
        let side = code.width() + 2 * QUIET;
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), side.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == side));
        assert!(lines[0].chars().all(|c| c == '█'), "quiet zone rows are light");
    }

    #[test]
    fn a_text_too_long_for_any_qr_code_is_an_error() {
        assert!(code(&"x".repeat(5000)).is_err());
    }
}
