//! Just enough DER to read a certificate's validity and names, so the probe does not
//! need a full X.509 parser (and its dependency tree) to report expiry.

/// The facts read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFacts {
    pub not_before_unix: i64,
    pub not_after_unix: i64,
    pub issuer: String,
    pub subject: String,
}

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads one TLV, returning its tag and contents.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let tag = *self.data.first()?;
        let first = *self.data.get(1)? as usize;
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *self.data.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let body = self.data.get(hdr..hdr.checked_add(len)?)?;
        self.data = &self.data[hdr + len..];
        Some((tag, body))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, body) if t == tag => Some(body),
            _ => None,
        }
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// Reads validity and names from a DER certificate.
pub(crate) fn cert_facts(der: &[u8]) -> Option<CertFacts> {
    let cert = Reader { data: der }.expect(SEQUENCE)?;
    let mut tbs = Reader {
        data: Reader { data: cert }.expect(SEQUENCE)?,
    };
    // The version is an optional explicit [0] before the serial number.
    if tbs.data.first() == Some(&0xa0) {
        tbs.next()?;
    }
    tbs.next()?; // serial number
    tbs.expect(SEQUENCE)?; // signature algorithm
    let issuer = tbs.expect(SEQUENCE)?;
    let mut validity = Reader {
        data: tbs.expect(SEQUENCE)?,
    };
    let not_before = time(validity.next()?)?;
    let not_after = time(validity.next()?)?;
    let subject = tbs.expect(SEQUENCE)?;
    Some(CertFacts {
        not_before_unix: not_before,
        not_after_unix: not_after,
        issuer: name(issuer),
        subject: name(subject),
    })
}

/// 1970-01-01T00:00:00 as a civil date-time: certificate times are UTC.
const UNIX_EPOCH: jiff::civil::DateTime = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to Unix seconds.
fn time((tag, body): (u8, &[u8])) -> Option<i64> {
    let s = std::str::from_utf8(body).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i16 = s.get(0..2)?.parse().ok()?;
            // RFC 5280: two-digit years 50–99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i8> { rest.get(i..i + 2)?.parse().ok() };
    let civil = jiff::civil::DateTime::new(
        year,
        field(0)?,
        field(2)?,
        field(4)?,
        field(6)?,
        field(8)?,
        0,
    )
    .ok()?;
    // Not through `Timestamp`, whose range ends a day early: "no expiry" certificates say
    // 9999-12-31T23:59:59Z.
    Some(civil.duration_since(UNIX_EPOCH).as_secs())
}

/// Renders the common attributes of a Name as `CN=…, O=…`.
fn name(body: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rdns = Reader { data: body };
    while let Some((SET, set)) = rdns.next() {
        let mut atvs = Reader { data: set };
        while let Some((SEQUENCE, atv)) = atvs.next() {
            let mut r = Reader { data: atv };
            let (Some(oid), Some((_, value))) = (r.expect(0x06), r.next()) else {
                continue;
            };
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time((0x17, b"700101000000Z")), Some(0));
        assert_eq!(time((0x17, b"491231235959Z")), Some(2_524_607_999));
        assert_eq!(time((0x18, b"20500101000000Z")), Some(2_524_608_000));
        assert_eq!(time((0x18, b"2050")), None);
        assert_eq!(time((0x18, b"20000301000000Z")), Some(11_017 * 86_400));
        assert_eq!(time((0x18, b"20261126000000Z")), Some(20_783 * 86_400));
        assert_eq!(time((0x18, b"99991231235959Z")), Some(253_402_300_799));
        assert_eq!(time((0x18, b"20250229000000Z")), None);
    }
}
