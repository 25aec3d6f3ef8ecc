//! Request body decoding: `Content-Encoding` decompression with a hard output cap, and the
//! legacy base64+zlib body of very old raven clients.

use std::borrow::Cow;
use std::io::{self, Read};

/// A `Content-Encoding` lookout can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No encoding.
    Identity,
    /// `gzip` / `x-gzip`.
    Gzip,
    /// `deflate`: zlib-wrapped per HTTP, raw deflate accepted too.
    Deflate,
    /// `br`.
    Brotli,
    /// `zstd`.
    Zstd,
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The `Content-Encoding` is not one lookout decodes.
    #[error("unsupported Content-Encoding `{0}`: use gzip, deflate, br, zstd or identity")]
    UnsupportedEncoding(String),
    /// The decoded body would exceed the limit.
    #[error("body exceeds the limit of {limit} bytes after decoding")]
    TooLarge {
        /// The limit in bytes that was hit.
        limit: usize,
    },
    /// The body is not valid for its declared encoding.
    #[error("body could not be decoded: {0}")]
    Corrupt(String),
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value (case-insensitive; empty means identity).
    pub fn parse(header_value: &str) -> Result<Self, BodyError> {
        let v = header_value.trim();
        Ok(if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            ContentEncoding::Identity
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            ContentEncoding::Gzip
        } else if v.eq_ignore_ascii_case("deflate") {
            ContentEncoding::Deflate
        } else if v.eq_ignore_ascii_case("br") {
            ContentEncoding::Brotli
        } else if v.eq_ignore_ascii_case("zstd") {
            ContentEncoding::Zstd
        } else {
            return Err(BodyError::UnsupportedEncoding(v.to_string()));
        })
    }

    /// The canonical header token.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Brotli => "br",
            ContentEncoding::Zstd => "zstd",
        }
    }
}

/// Decodes `input` per `enc`, failing with `TooLarge` as soon as the output would exceed
/// `max_len` bytes; identity input is borrowed, and also checked against `max_len`.
pub fn decode(
    enc: ContentEncoding,
    input: &[u8],
    max_len: usize,
) -> Result<Cow<'_, [u8]>, BodyError> {
    match enc {
        ContentEncoding::Identity => {
            if input.len() > max_len {
                return Err(BodyError::TooLarge { limit: max_len });
            }
            Ok(Cow::Borrowed(input))
        }
        ContentEncoding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            max_len,
        )
        .map(Cow::Owned),
        ContentEncoding::Deflate => inflate(input, max_len).map(Cow::Owned),
        ContentEncoding::Brotli => {
            read_capped(brotli::Decompressor::new(input, 4096), input.len(), max_len)
                .map(Cow::Owned)
        }
        ContentEncoding::Zstd => {
            let dec = zstd::stream::read::Decoder::new(input).map_err(corrupt)?;
            read_capped(dec, input.len(), max_len).map(Cow::Owned)
        }
    }
}

/// Decodes a legacy `/store/` body: JSON as is, or base64 of zlib-deflated JSON as sent by
/// old raven clients.
pub fn decode_legacy_store_body(input: &[u8], max_len: usize) -> Result<Cow<'_, [u8]>, BodyError> {
    let first = input.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') || first.is_none() {
        if input.len() > max_len {
            return Err(BodyError::TooLarge { limit: max_len });
        }
        return Ok(Cow::Borrowed(input));
    }
    let raw = base64_decode(input)?;
    if raw.len() > max_len {
        return Err(BodyError::TooLarge { limit: max_len });
    }
    if looks_like_zlib(&raw) {
        return inflate(&raw, max_len).map(Cow::Owned);
    }
    // Some clients base64-encoded the JSON without compressing it.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(Cow::Owned(raw));
    }
    inflate(&raw, max_len).map(Cow::Owned)
}

fn corrupt(e: io::Error) -> BodyError {
    BodyError::Corrupt(e.to_string())
}

fn looks_like_zlib(b: &[u8]) -> bool {
    // RFC 1950: CM = 8 (deflate), and the 16-bit header is a multiple of 31.
    matches!(b, [cmf, flg, ..] if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0)
}

fn inflate(input: &[u8], max_len: usize) -> Result<Vec<u8>, BodyError> {
    if looks_like_zlib(input) {
        match read_capped(flate2::read::ZlibDecoder::new(input), input.len(), max_len) {
            Err(BodyError::Corrupt(_)) => {}
            other => return other,
        }
    }
    read_capped(
        flate2::read::DeflateDecoder::new(input),
        input.len(),
        max_len,
    )
}

/// Reads `r` to the end, never holding more than `max_len` bytes of output (capacity
/// included), so a decompression bomb costs at most `max_len` of memory.
fn read_capped<R: Read>(mut r: R, input_len: usize, max_len: usize) -> Result<Vec<u8>, BodyError> {
    let mut out: Vec<u8> = Vec::with_capacity(input_len.saturating_mul(4).max(1024).min(max_len));
    let mut buf = [0u8; 32 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        let needed = out.len() + n;
        if needed > max_len {
            return Err(BodyError::TooLarge { limit: max_len });
        }
        if needed > out.capacity() {
            let target = (out.capacity() * 2).clamp(needed, max_len);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Standard-alphabet base64 (URL-safe characters accepted too), padding optional, ASCII
/// whitespace ignored.
fn base64_decode(input: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = false;
    for (i, &c) in input.iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            c if c.is_ascii_whitespace() => continue,
            _ => {
                return Err(BodyError::Corrupt(format!(
                    "legacy store body is neither JSON nor base64 (byte {i} is 0x{c:02x})"
                )))
            }
        };
        if padding {
            return Err(BodyError::Corrupt("base64 data after padding".into()));
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits >= 6 {
        return Err(BodyError::Corrupt(
            "base64 data has a dangling character".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    const JSON: &[u8] = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"hello"}"#;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn raw_deflate(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
    fn brotli(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(b).unwrap();
        }
        out
    }
    fn zstd(b: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(b, 1).unwrap()
    }
    fn base64(b: &[u8], pad: bool) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &x)| acc | u32::from(x) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
            if pad {
                for _ in chunk.len()..3 {
                    s.push('=');
                }
            }
        }
        s
    }

    #[test]
    fn parses_encodings() {
        use ContentEncoding::*;
        for (s, e) in [
            ("", Identity),
            ("identity", Identity),
            ("GZIP", Gzip),
            ("x-gzip", Gzip),
            (" deflate ", Deflate),
            ("Br", Brotli),
            ("zstd", Zstd),
        ] {
            assert_eq!(ContentEncoding::parse(s).unwrap(), e, "{s}");
        }
        assert_eq!(
            ContentEncoding::parse("compress").unwrap_err(),
            BodyError::UnsupportedEncoding("compress".into())
        );
    }

    #[test]
    fn all_encodings_round_trip() {
        let big: Vec<u8> = JSON.iter().copied().cycle().take(300_000).collect();
        for data in [JSON, &big[..], b""] {
            let cases = [
                (ContentEncoding::Gzip, gzip(data)),
                (ContentEncoding::Deflate, zlib(data)),
                (ContentEncoding::Deflate, raw_deflate(data)),
                (ContentEncoding::Brotli, brotli(data)),
                (ContentEncoding::Zstd, zstd(data)),
            ];
            for (enc, compressed) in cases {
                let out = decode(enc, &compressed, 1 << 20).unwrap();
                assert_eq!(&out[..], data, "{enc:?}");
                assert!(matches!(out, Cow::Owned(_)));
            }
        }
        let out = decode(ContentEncoding::Identity, JSON, 1 << 20).unwrap();
        assert!(matches!(out, Cow::Borrowed(_)));
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let mut two = gzip(b"{\"a\":");
        two.extend(gzip(b"1}"));
        assert_eq!(
            &decode(ContentEncoding::Gzip, &two, 100).unwrap()[..],
            b"{\"a\":1}"
        );
    }

    #[test]
    fn output_limit_is_exact() {
        let data = vec![b'x'; 1000];
        for enc in [
            ContentEncoding::Gzip,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            let c = match enc {
                ContentEncoding::Gzip => gzip(&data),
                ContentEncoding::Brotli => brotli(&data),
                _ => zstd(&data),
            };
            assert_eq!(decode(enc, &c, 1000).unwrap().len(), 1000);
            assert_eq!(
                decode(enc, &c, 999).unwrap_err(),
                BodyError::TooLarge { limit: 999 }
            );
        }
        assert_eq!(
            decode(ContentEncoding::Identity, &data, 999).unwrap_err(),
            BodyError::TooLarge { limit: 999 }
        );
    }

    #[test]
    fn decompression_bombs_stop_at_the_limit() {
        // 100 MB of zeros: one 1 MiB member repeated 100 times (gzip and zstd both decode
        // concatenated members), which keeps building the bomb cheap in a debug build.
        let zeros = vec![0u8; 1 << 20];
        let bomb = gzip(&zeros).repeat(100);
        let zbomb = zstd(&zeros).repeat(100);
        assert!(bomb.len() < 200_000 && zbomb.len() < 200_000);
        let limit = 1 << 20;
        for (enc, body) in [
            (ContentEncoding::Gzip, &bomb),
            (ContentEncoding::Zstd, &zbomb),
        ] {
            let start = Instant::now();
            assert_eq!(
                decode(enc, body, limit).unwrap_err(),
                BodyError::TooLarge { limit }
            );
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{enc:?} took {:?}",
                start.elapsed()
            );
        }
        // The capacity of the buffer is bounded by the limit, never doubled past it.
        let out = read_capped(&vec![1u8; limit][..], 10, limit).unwrap();
        assert!(out.capacity() <= limit);
    }

    #[test]
    fn corrupt_data_is_reported() {
        let garbage = b"this is definitely not compressed data at all";
        for enc in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
            ContentEncoding::Zstd,
        ] {
            assert!(
                matches!(decode(enc, garbage, 1 << 20), Err(BodyError::Corrupt(_))),
                "{enc:?}"
            );
        }
    }

    #[test]
    fn legacy_store_body_plain_json_is_borrowed() {
        let body = b"  \n{\"message\":\"x\"}";
        assert!(
            matches!(decode_legacy_store_body(body, 100).unwrap(), Cow::Borrowed(b) if b == body)
        );
    }

    #[test]
    fn legacy_store_body_base64_zlib() {
        for pad in [true, false] {
            let mut body = base64(&zlib(JSON), pad);
            body.insert(10, '\n');
            let out = decode_legacy_store_body(body.as_bytes(), 1 << 20).unwrap();
            assert_eq!(&out[..], JSON);
        }
        let plain = base64(JSON, true);
        assert_eq!(
            &decode_legacy_store_body(plain.as_bytes(), 1 << 20).unwrap()[..],
            JSON
        );
        assert_eq!(
            decode_legacy_store_body(base64(&zlib(JSON), true).as_bytes(), 10).unwrap_err(),
            BodyError::TooLarge { limit: 10 }
        );
        assert!(matches!(
            decode_legacy_store_body(b"not json!", 100),
            Err(BodyError::Corrupt(_))
        ));
        assert!(matches!(
            decode_legacy_store_body(b"QUJD", 100),
            Err(BodyError::Corrupt(_))
        ));
    }

    #[test]
    fn base64_decoder_matches_reference_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmFy", "foobar"),
        ] {
            assert_eq!(
                base64_decode(enc.as_bytes()).unwrap(),
                dec.as_bytes(),
                "{enc}"
            );
        }
        assert!(base64_decode(b"Z").is_err());
        assert!(base64_decode(b"Zg==Zg").is_err());
    }
}
