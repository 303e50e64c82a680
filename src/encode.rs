//! Bytes for files, pages and notebook cells: images as PNG, and base64 for a PNG inside HTML
//! or a notebook's output.

/// Encodes pixels (`width x height`, row by row; `channels` bytes each: 1 grey, 3 RGB) as PNG.
pub fn png(pixels: &[u8], width: u32, height: u32, channels: u8) -> Vec<u8> {
    use image::ImageEncoder;
    let color = match channels {
        1 => image::ColorType::L8,
        3 => image::ColorType::Rgb8,
        _ => panic!("PNG pixels here are grey (1 byte) or RGB (3 bytes), not {channels} bytes"),
    };
    assert_eq!(pixels.len(), (width * height) as usize * channels as usize, "{width}x{height} pixels of {channels} bytes");
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(pixels, width, height, color)
        .expect("encoding pixels in memory as PNG cannot fail");
    out
}

/// Standard base64 (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
