//! QR codes for campaign leaflets and LED screens. One module matrix is drawn two ways: SVG for
//! print and screens (sharp at any size, inlined in the pages) and PNG for chats and posters.

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code: scanners need them to find its edges (ISO/IEC 18004).
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in the PNG: about 450 px for a link, enough for a poster or a chat.
pub const PNG_MODULE_PX: usize = 12;

/// The dark and light modules of one QR code, without the quiet zone.
#[derive(Debug, Clone)]
pub struct Qr {
    width: usize,
    dark: Vec<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("text does not fit in a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

impl Qr {
    /// Level M (15 % of the code may be lost): a creased or dirty leaflet still scans, and a
    /// link stays a small code that phones read from across a room.
    pub fn encode(text: &str) -> Result<Qr, QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
        Ok(Qr {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
        })
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Modules per side with the quiet zone on both sides.
    pub fn full_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether module (`x`, `y`) is dark; outside the code (the quiet zone) it is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// An `<svg>` element (no XML prolog, so it can be inlined in a page) in module units: it
    /// scales to whatever box CSS gives it. Runs of dark modules in a row are one rectangle.
    pub fn svg(&self) -> String {
        let n = self.full_width();
        let mut svg = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" shape-rendering="crispEdges" role="img" aria-label="登记二维码"><rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d=""##
        );
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let _ = write!(
                    svg,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET_ZONE,
                    y + QUIET_ZONE,
                    x - start,
                    x - start
                );
            }
        }
        svg.push_str(r#""/></svg>"#);
        svg
    }

    /// Side of the PNG in pixels.
    pub fn png_side(&self) -> usize {
        self.full_width() * PNG_MODULE_PX
    }

    /// An 8-bit greyscale PNG, [`PNG_MODULE_PX`] pixels per module, quiet zone included.
    pub fn png(&self) -> Result<Vec<u8>, QrError> {
        let side = self.png_side();
        let mut pixels = Vec::with_capacity(side * side);
        for my in 0..self.full_width() {
            let row: Vec<u8> = (0..self.full_width())
                .flat_map(|mx| {
                    // The quiet zone shifts the code by QUIET_ZONE modules; below zero is light.
                    let dark = mx >= QUIET_ZONE
                        && my >= QUIET_ZONE
                        && self.is_dark(mx - QUIET_ZONE, my - QUIET_ZONE);
                    std::iter::repeat_n(if dark { 0 } else { 255 }, PNG_MODULE_PX)
                })
                .collect();
            for _ in 0..PNG_MODULE_PX {
                pixels.extend_from_slice(&row);
            }
        }
        let side = u32::try_from(side).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_is_the_libraries_and_the_quiet_zone_is_light() {
        let qr = Qr::encode("http://127.0.0.1:8080/?ref=ABC234").unwrap();
        let code = QrCode::with_error_correction_level(
            "http://127.0.0.1:8080/?ref=ABC234".as_bytes(),
            EcLevel::M,
        )
        .unwrap();
        assert_eq!(qr.width(), code.width());
        assert_eq!(qr.full_width(), code.width() + 8);
        // Finder pattern corners are dark; outside the code is light.
        assert!(qr.is_dark(0, 0));
        assert!(!qr.is_dark(qr.width(), 0));
    }

    #[test]
    fn svg_draws_every_dark_module_once() {
        let qr = Qr::encode("xinyidai").unwrap();
        let svg = qr.svg();
        assert!(svg.starts_with("<svg "));
        let drawn: usize = svg
            .split('h')
            .skip(1)
            .filter_map(|s| s.split('v').next()?.parse::<usize>().ok())
            .sum();
        let dark = (0..qr.width())
            .flat_map(|y| (0..qr.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| qr.is_dark(x, y))
            .count();
        assert_eq!(drawn, dark);
    }

    #[test]
    fn png_has_the_signature() {
        let qr = Qr::encode("xinyidai").unwrap();
        let png = qr.png().unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
