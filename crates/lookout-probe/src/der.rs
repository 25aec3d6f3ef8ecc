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

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to Unix seconds.
fn time((tag, body): (u8, &[u8])) -> Option<i64> {
    let s = std::str::from_utf8(body).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = s.get(0..2)?.parse().ok()?;
            // RFC 5280: two-digit years 50–99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 26), 20_783);
    }

    #[test]
    fn times() {
        assert_eq!(time((0x17, b"700101000000Z")), Some(0));
        assert_eq!(time((0x17, b"491231235959Z")), Some(2_524_607_999));
        assert_eq!(time((0x18, b"20500101000000Z")), Some(2_524_608_000));
        assert_eq!(time((0x18, b"2050")), None);
    }
}
