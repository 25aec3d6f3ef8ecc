//! `${ENV}` interpolation in config strings, so secrets and per-host values stay in the
//! environment: `${NAME}` is the variable's value, `${NAME:-default}` falls back when it
//! is unset, `$${` is a literal `${`, and any other `$` is kept as written.

/// Why a string cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${` without its `}`.
    #[error("`${{` without a closing `}}` in \"{text}\"")]
    Unclosed {
        /// The whole string.
        text: String,
    },
    /// What is between the braces is not a variable name.
    #[error("`${{{inner}}}` is not a valid environment variable name")]
    BadName {
        /// What was between the braces.
        inner: String,
    },
    /// The variable is not set and has no default.
    #[error("environment variable {name} is not set; set it or write ${{{name}:-default}}")]
    Unset {
        /// The variable.
        name: String,
    },
}

/// Replaces each `${NAME}` / `${NAME:-default}` in `s` by what `env` says.
pub fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| InterpolateError::Unclosed {
                text: s.to_string(),
            })?;
            let inner = &tail[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(InterpolateError::BadName {
                    inner: inner.to_string(),
                });
            }
            match (env(name), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(InterpolateError::Unset {
                        name: name.to_string(),
                    })
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "HOST").then(|| "app.internal".to_string())
    }

    #[test]
    fn expands_values_defaults_and_escapes() {
        assert_eq!(
            expand("http://${HOST}:${PORT:-3000}/$${x} costs $5", &env).unwrap(),
            "http://app.internal:3000/${x} costs $5"
        );
    }

    #[test]
    fn errors_say_what_to_do() {
        let e = expand("${NOPE}", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable NOPE is not set; set it or write ${NOPE:-default}"
        );
        assert!(matches!(
            expand("${A B}", &env),
            Err(InterpolateError::BadName { .. })
        ));
        assert!(matches!(
            expand("x ${HOST", &env),
            Err(InterpolateError::Unclosed { .. })
        ));
    }
}
