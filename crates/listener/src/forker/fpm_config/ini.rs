//! One line of a PHP-FPM configuration, as PHP's INI scanner (`ZEND_INI_SCANNER_NORMAL`)
//! reads it: PHP-FPM hands the scanner one line at a time (`fpm_conf_load_ini_file`), so a
//! line is a blank or `;` comment, a `[section]`, `key = value` or `name[key] = value`.
//! Values are trimmed; `"..."` (with `\"` escapes) and `'...'` are taken as written; an
//! unquoted value ends at `;`, `yes`/`on`/`true` read as `1` and `no`/`off`/`false`/`none`/
//! `null` as the empty string (so `catch_workers_output = yes` is `1`), and `${NAME}`
//! takes the environment variable (empty when unset).

/// A parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Blank or a comment.
    Empty,
    /// `[name]`.
    Section(String),
    /// `key = value`, or `key[sub] = value` (`sub` is then `Some`).
    Entry {
        /// The key before any `[`.
        key: String,
        /// The array key (`php_admin_value[memory_limit]`: `memory_limit`).
        sub: Option<String>,
        /// The value, unquoted and converted as the scanner does.
        value: String,
    },
}

/// Parses one line; `Err` says what is wrong with it.
pub fn parse(line: &str) -> Result<Line, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with(';') {
        return Ok(Line::Empty);
    }
    if let Some(rest) = line.strip_prefix('[') {
        let (name, after) = rest
            .split_once(']')
            .ok_or("a section without its closing ']'")?;
        if !is_comment_or_blank(after) {
            return Err(format!("unexpected '{}' after the section", after.trim()));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err("an empty section name".to_owned());
        }
        return Ok(Line::Section(name.to_owned()));
    }
    let (key, value) = line
        .split_once('=')
        .ok_or("no '=' (expected key = value)")?;
    let key = key.trim();
    let (key, sub) = match key.split_once('[') {
        Some((name, rest)) => {
            let sub = rest
                .strip_suffix(']')
                .ok_or("an array key without its closing ']'")?;
            (name.trim(), Some(sub.trim().to_owned()))
        }
        None => (key, None),
    };
    if key.is_empty() {
        return Err("no key before '='".to_owned());
    }
    Ok(Line::Entry {
        key: key.to_owned(),
        sub,
        value: value_of(value.trim())?,
    })
}

/// True for what may follow a section or a quoted value: nothing, or a comment.
fn is_comment_or_blank(rest: &str) -> bool {
    let rest = rest.trim();
    rest.is_empty() || rest.starts_with(';')
}

/// The value after `=`, trimmed.
fn value_of(raw: &str) -> Result<String, String> {
    if let Some(rest) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    return if is_comment_or_blank(chars.as_str()) {
                        Ok(expand_env(&out))
                    } else {
                        Err(format!(
                            "unexpected '{}' after the quoted value",
                            chars.as_str().trim()
                        ))
                    };
                }
                '\\' => match chars.next() {
                    Some(escaped @ ('"' | '\\')) => out.push(escaped),
                    Some(other) => out.extend(['\\', other]),
                    None => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        return Err("a quoted value without its closing '\"'".to_owned());
    }
    if let Some(rest) = raw.strip_prefix('\'') {
        let (value, after) = rest
            .split_once('\'')
            .ok_or("a quoted value without its closing \"'\"")?;
        if !is_comment_or_blank(after) {
            return Err(format!(
                "unexpected '{}' after the quoted value",
                after.trim()
            ));
        }
        return Ok(value.to_owned());
    }
    let value = raw.split(';').next().unwrap_or_default().trim();
    let lower = value.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "yes" | "on" | "true" => "1".to_owned(),
        "no" | "off" | "false" | "none" | "null" => String::new(),
        _ => expand_env(value),
    })
}

/// `${NAME}` replaced by the environment variable `NAME` (empty when unset).
fn expand_env(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = &rest[start + 2..start + 2 + len];
        out.push_str(&std::env::var(name).unwrap_or_default());
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, sub: Option<&str>, value: &str) -> Line {
        Line::Entry {
            key: key.into(),
            sub: sub.map(Into::into),
            value: value.into(),
        }
    }

    #[test]
    fn reads_what_php_fpm_reads() {
        let table = [
            ("", Line::Empty),
            ("   ; a comment = 1", Line::Empty),
            ("[www]", Line::Section("www".into())),
            (" [ api ] ; trailing", Line::Section("api".into())),
            ("pm = dynamic", entry("pm", None, "dynamic")),
            (
                "pm.max_children=5 ; five",
                entry("pm.max_children", None, "5"),
            ),
            (
                "listen = /run/$pool.sock",
                entry("listen", None, "/run/$pool.sock"),
            ),
            (
                "pm.start_servers = \"3\"",
                entry("pm.start_servers", None, "3"),
            ),
            ("a = 'x;y'", entry("a", None, "x;y")),
            ("a = \"say \\\"hi\\\"\"", entry("a", None, "say \"hi\"")),
            (
                "catch_workers_output = yes",
                entry("catch_workers_output", None, "1"),
            ),
            ("clear_env = Off", entry("clear_env", None, "")),
            ("a =", entry("a", None, "")),
            (
                "php_admin_value[memory_limit] = 64M",
                entry("php_admin_value", Some("memory_limit"), "64M"),
            ),
        ];
        for (line, want) in table {
            assert_eq!(parse(line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn rejects_what_does_not_parse() {
        for line in [
            "pm dynamic",
            "[www",
            "[]",
            "[www] pm = static",
            "= 5",
            "a = \"open",
            "a = 'open",
            "a = \"x\" y",
            "env[PATH = /bin",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
    }

    #[test]
    fn expands_environment_variables() {
        // PATH is set in every test environment.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            parse("env[PATH] = ${PATH}"),
            Ok(entry("env", Some("PATH"), &path))
        );
        assert_eq!(
            parse("a = x${LISTENLAB_SURELY_UNSET}y"),
            Ok(entry("a", None, "xy"))
        );
    }
}
