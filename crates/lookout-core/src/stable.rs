//! Names that are persisted in databases and shown in the API. Each enum declared with
//! `stable_names!` converts to its name with `as_str` and back with `FromStr`, and
//! serializes as that name; the names are part of the stored data, so they never change.

use std::fmt;

/// A stored or given name that no variant has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name it should have been ("incident status").
    pub what: &'static str,
    /// The name found.
    pub found: String,
    /// The names known.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`: expected ", self.what, self.found)?;
        for (i, name) in self.expected.iter().enumerate() {
            match i {
                0 => {}
                _ if i + 1 == self.expected.len() => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownName {}

/// Declares a fieldless enum whose variants have stable names: `as_str`, `ALL`,
/// `FromStr` (failing with [`UnknownName`]), `Display`, and serde as the name.
macro_rules! stable_names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name, as stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::stable::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::stable::UnknownName {
                        what: $what,
                        found: s.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use stable_names;

#[cfg(test)]
mod tests {
    use super::UnknownName;

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let e = UnknownName {
            what: "incident status",
            found: "open".into(),
            expected: &["triggered", "acknowledged", "resolved"],
        };
        assert_eq!(
            e.to_string(),
            "unknown incident status `open`: expected triggered, acknowledged or resolved"
        );
    }
}
