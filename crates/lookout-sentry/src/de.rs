//! Single-pass lenient deserialisation helpers.
//!
//! `Field<T>` accepts any JSON value: the shapes `T` understands become `Val`, the others are
//! skipped in the same pass (no `Value`, no re-parse) and become `Wrong`, so the caller can
//! drop that one field and record it instead of failing the whole payload.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A field as found: absent (or `null`), present with a usable shape, or present but wrong.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Wrong,
    Val(T),
}

impl<T> Field<T> {
    pub(crate) fn ok(self) -> Option<T> {
        match self {
            Field::Val(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn is_wrong(&self) -> bool {
        matches!(self, Field::Wrong)
    }

    fn from_option(o: Option<T>) -> Self {
        o.map_or(Field::Wrong, Field::Val)
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(o: Option<T>) -> Self {
        Field::from_option(o)
    }
}

/// Lets `Vec<Field<T>>` keep element positions (needed for tag pairs with a null value).
impl<'de, T: Lenient<'de>> Lenient<'de> for Field<T> {
    fn from_bool(v: bool) -> Option<Self> {
        Some(Field::from(T::from_bool(v)))
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(Field::from(T::from_u64(v)))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Field::from(T::from_i64(v)))
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(Field::from(T::from_f64(v)))
    }
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Some(Field::from(T::from_borrowed_str(s)))
    }
    fn from_str(s: &str) -> Option<Self> {
        Some(Field::from(T::from_str(s)))
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(Some(Field::from(T::from_seq(seq)?)))
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        Ok(Some(Field::from(T::from_map(map)?)))
    }
}

/// How a type accepts each JSON shape; the defaults reject (and skip) everything.
pub(crate) trait Lenient<'de>: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Self::from_str(s)
    }
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de, T: Lenient<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_i64(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_u64(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_f64(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_borrowed_str(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::from_option(T::from_str(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Field::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::from_seq(seq).map(Field::from_option)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::from_map(map).map(Field::from_option)
    }
}

impl<'de: 'a, 'a> Lenient<'de> for Cow<'a, str> {
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Some(Cow::Borrowed(s))
    }
    fn from_str(s: &str) -> Option<Self> {
        Some(Cow::Owned(s.to_owned()))
    }
}

/// A string, or a number or boolean turned into one (ids, tag values, fingerprints).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stringish<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Lenient<'de> for Stringish<'a> {
    fn from_bool(v: bool) -> Option<Self> {
        Some(Stringish(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(Stringish(Cow::Owned(v.to_string())))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Stringish(Cow::Owned(v.to_string())))
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(Stringish(Cow::Owned(v.to_string())))
    }
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Some(Stringish(Cow::Borrowed(s)))
    }
    fn from_str(s: &str) -> Option<Self> {
        Some(Stringish(Cow::Owned(s.to_owned())))
    }
}

impl Lenient<'_> for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

/// Non-negative integers; digit strings (`"42"`) and integral floats are accepted too.
impl Lenient<'_> for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    fn from_f64(v: f64) -> Option<Self> {
        (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64).then_some(v as u64)
    }
    fn from_str(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}

impl Lenient<'_> for f64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
    fn from_str(s: &str) -> Option<Self> {
        s.trim().parse().ok().filter(|v: &f64| v.is_finite())
    }
}

/// A point in time as Unix seconds: a number, or an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timestamp(pub(crate) f64);

impl Lenient<'_> for Timestamp {
    fn from_u64(v: u64) -> Option<Self> {
        Some(Timestamp(v as f64))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Timestamp(v as f64))
    }
    fn from_f64(v: f64) -> Option<Self> {
        v.is_finite().then_some(Timestamp(v))
    }
    fn from_str(s: &str) -> Option<Self> {
        parse_rfc3339(s)
            .or_else(|| s.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .map(Timestamp)
    }
}

/// Any non-null value; records whether it was non-empty (used for `logentry.params`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Present {
    pub(crate) non_empty: bool,
}

impl<'de> Lenient<'de> for Present {
    fn from_bool(_: bool) -> Option<Self> {
        Some(Present { non_empty: true })
    }
    fn from_u64(_: u64) -> Option<Self> {
        Some(Present { non_empty: true })
    }
    fn from_i64(_: i64) -> Option<Self> {
        Some(Present { non_empty: true })
    }
    fn from_f64(_: f64) -> Option<Self> {
        Some(Present { non_empty: true })
    }
    fn from_str(_: &str) -> Option<Self> {
        Some(Present { non_empty: true })
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut n = 0usize;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Some(Present { non_empty: n > 0 }))
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut n = 0usize;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Some(Present { non_empty: n > 0 }))
    }
}

/// A list whose malformed elements are dropped one by one.
impl<'de, T: Lenient<'de>> Lenient<'de> for Vec<T> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(f) = seq.next_element::<Field<T>>()? {
            if let Field::Val(v) = f {
                out.push(v);
            }
        }
        Ok(Some(out))
    }
}

/// Declares a struct read from a JSON object, each field under its JSON key and lenient on
/// its own. Hand-rolled rather than `#[derive(Deserialize)]` because derive fails the whole
/// document on a repeated key; here the last occurrence wins, as in most JSON parsers.
macro_rules! lenient_object {
    ($(#[$meta:meta])* struct $name:ident<$a:lifetime> { $($key:literal => $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Default)]
        struct $name<$a> {
            $($field: $ty,)*
            _borrows: std::marker::PhantomData<&$a ()>,
        }

        impl<'de: $a, $a> $crate::de::Lenient<'de> for $name<$a> {
            fn from_map<A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
                let mut out = Self::default();
                while let Some(key) = map.next_key::<$crate::de::Key<'de>>()? {
                    match &*key.0 {
                        $($key => out.$field = map.next_value()?,)*
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Some(out))
            }
        }
    };
}
pub(crate) use lenient_object;

/// An object key, borrowed unless it contains escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Deserialises a whole document that must be a JSON object into `T`, rejecting arrays
/// (which serde's derived structs would otherwise accept positionally) and scalars.
pub(crate) fn from_object_slice<'a, T>(input: &'a [u8]) -> Result<T, serde_json::Error>
where
    T: Lenient<'a>,
{
    struct Top<T>(PhantomData<T>);
    impl<'de, T: Lenient<'de>> Visitor<'de> for Top<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::from_map(map)?.ok_or_else(|| de::Error::custom("expected a JSON object"))
        }
    }
    fn run<'de, R: serde_json::de::Read<'de>, T: Lenient<'de>>(
        mut de: serde_json::Deserializer<R>,
    ) -> Result<T, serde_json::Error> {
        let v = serde::Deserializer::deserialize_any(&mut de, Top(PhantomData))?;
        de.end()?;
        Ok(v)
    }
    // Valid UTF-8 (every payload that passed the scrubber) is read as a `str`: serde_json
    // then skips checking each string it borrows, which was ~5 % of parsing.
    match std::str::from_utf8(input) {
        Ok(text) => run(serde_json::Deserializer::from_str(text)),
        Err(_) => run(serde_json::Deserializer::from_slice(input)),
    }
}

/// Normalises a UUID (dashes optional, any case) to 32 lower-case hex digits.
pub(crate) fn normalize_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(s);
    let mut out = String::with_capacity(32);
    for c in s.chars() {
        if c == '-' {
            continue;
        }
        if !c.is_ascii_hexdigit() || out.len() == 32 {
            return None;
        }
        out.push(c.to_ascii_lowercase());
    }
    (out.len() == 32).then_some(out)
}

/// 1970-01-01T00:00:00 as a civil date-time: the offset of UTC date-times is taken from it.
const UNIX_EPOCH: jiff::civil::DateTime = jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// Parses RFC 3339 / ISO 8601 date-times to Unix seconds. The offset is optional (UTC is
/// assumed, as Python's `datetime.isoformat()` of a naive time omits it), `T` may be a space,
/// and any number of fractional digits is accepted.
pub(crate) fn parse_rfc3339(s: &str) -> Option<f64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let d = b.get(r)?;
        d.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let small = |r| i8::try_from(num(r)?).ok();
    let civil = jiff::civil::DateTime::new(
        i16::try_from(num(0..4)?).ok()?,
        small(5..7)?,
        small(8..10)?,
        small(11..13)?,
        small(14..16)?,
        // A leap second is folded into the previous one rather than rejected.
        small(17..19)?.min(59),
        0,
    )
    .ok()?;
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        let mut scale = 0.1;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            frac += f64::from(c - b'0') * scale;
            scale /= 10.0;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match &b[i..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (&[*h1, *h2][..], &b"00"[..]),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (&[*h1, *h2][..], &[*m1, *m2][..]),
                _ => return None,
            };
            let p = |d: &[u8]| -> Option<i64> {
                d.iter().try_fold(0i64, |acc, &c| {
                    c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
                })
            };
            let secs = p(h)? * 3600 + p(m)? * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let unix = civil.duration_since(UNIX_EPOCH).as_secs() - offset_secs;
    Some(unix as f64 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2024-03-05T12:34:56Z"), Some(1_709_642_096.0));
        assert_eq!(parse_rfc3339("2024-03-05T12:34:56"), Some(1_709_642_096.0));
        assert_eq!(parse_rfc3339("2024-03-05 12:34:56"), Some(1_709_642_096.0));
        assert_eq!(
            parse_rfc3339("2024-03-05T14:34:56+02:00"),
            Some(1_709_642_096.0)
        );
        assert_eq!(
            parse_rfc3339("2024-03-05T10:34:56-0200"),
            Some(1_709_642_096.0)
        );
        let t = parse_rfc3339("2024-03-05T12:34:56.123456Z").unwrap();
        assert!((t - 1_709_642_096.123456).abs() < 1e-5, "{t}");
        assert_eq!(parse_rfc3339("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-03-05T12:34:56.Z"), None);
        assert_eq!(parse_rfc3339("2024-03-05T12:34:56+2"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-03-05T25:00:00Z"), None);
        assert_eq!(parse_rfc3339("２０２４-03-05T12:34:56Z"), None);
    }

    #[test]
    fn rfc3339_calendar_edges() {
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799.0));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800.0));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400.0));
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200.0)
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Some(253_402_300_799.0)
        );
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2024-03-05T12:60:00Z"), None);
    }

    #[test]
    fn uuid_normalisation() {
        assert_eq!(
            normalize_uuid("9EC79C33-EC99-42AB-8353-589FCB2E04DC").as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(
            normalize_uuid("{9ec79c33-ec99-42ab-8353-589fcb2e04dc}").as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(normalize_uuid("9ec79c33ec9942ab8353589fcb2e04d"), None);
        assert_eq!(normalize_uuid("9ec79c33ec9942ab8353589fcb2e04dcaa"), None);
        assert_eq!(normalize_uuid("zec79c33ec9942ab8353589fcb2e04dc"), None);
    }

    #[test]
    fn field_shapes() {
        let f: Field<Cow<str>> = serde_json::from_str("\"a\"").unwrap();
        assert!(matches!(f, Field::Val(Cow::Borrowed("a"))));
        let f: Field<Cow<str>> = serde_json::from_str("\"a\\n\"").unwrap();
        assert!(matches!(f, Field::Val(Cow::Owned(ref s)) if s == "a\n"));
        let f: Field<Cow<str>> = serde_json::from_str("[1, {\"x\": [2]}]").unwrap();
        assert!(f.is_wrong());
        let f: Field<Cow<str>> = serde_json::from_str("null").unwrap();
        assert_eq!(f, Field::Absent);
        let f: Field<u64> = serde_json::from_str("\"12\"").unwrap();
        assert_eq!(f, Field::Val(12));
        let f: Field<u64> = serde_json::from_str("-3").unwrap();
        assert!(f.is_wrong());
        let f: Field<Vec<u64>> = serde_json::from_str("[1, \"x\", 3, null]").unwrap();
        assert_eq!(f, Field::Val(vec![1, 3]));
        let f: Field<Stringish> = serde_json::from_str("4.5").unwrap();
        assert_eq!(f.ok().unwrap().0, "4.5");
    }
}
