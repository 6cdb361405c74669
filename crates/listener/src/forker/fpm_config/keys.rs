//! The entries PHP-FPM 8.2 knows (`ini_fpm_global_options` and `ini_fpm_pool_options` in
//! php-src `sapi/fpm/fpm/fpm_conf.c`), each with the parser that checks its value, and
//! those parsers with their messages: an entry PHP-FPM does not know, or a value its parser
//! refuses, fails the file as it fails `php-fpm -t`.

use clap::ValueEnum;

use crate::forker::models::ModelKind;

/// How an entry's value is checked (the `fpm_conf_set_*` functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `fpm_conf_set_string`: any text; `$pool` is expanded.
    Text,
    /// `fpm_conf_set_integer`: digits, with an optional leading `-`.
    Integer,
    /// `fpm_conf_set_time`: an integer with an optional `s`, `m`, `h` or `d` suffix.
    Time,
    /// `fpm_conf_set_boolean`: `1` or empty (the scanner turns yes/no into these).
    Boolean,
    /// `fpm_conf_set_pm`: static, dynamic or ondemand.
    Pm,
    /// `fpm_conf_set_log_level`.
    LogLevel,
    /// `fpm_conf_set_rlimit_core`: `unlimited` or an integer of at least 0.
    RlimitCore,
}

/// The `[global]` entries.
const GLOBAL: &[(&str, Kind)] = &[
    ("pid", Kind::Text),
    ("error_log", Kind::Text),
    ("syslog.ident", Kind::Text),
    ("syslog.facility", Kind::Text),
    ("log_buffering", Kind::Boolean),
    ("log_level", Kind::LogLevel),
    ("log_limit", Kind::Integer),
    ("emergency_restart_threshold", Kind::Integer),
    ("emergency_restart_interval", Kind::Time),
    ("process_control_timeout", Kind::Time),
    ("process.max", Kind::Integer),
    ("process.priority", Kind::Integer),
    ("daemonize", Kind::Boolean),
    ("rlimit_files", Kind::Integer),
    ("rlimit_core", Kind::RlimitCore),
    ("events.mechanism", Kind::Text),
    ("systemd_interval", Kind::Time),
];

/// The pool entries.
const POOL: &[(&str, Kind)] = &[
    ("prefix", Kind::Text),
    ("user", Kind::Text),
    ("group", Kind::Text),
    ("listen", Kind::Text),
    ("listen.backlog", Kind::Integer),
    ("listen.acl_users", Kind::Text),
    ("listen.acl_groups", Kind::Text),
    ("listen.owner", Kind::Text),
    ("listen.group", Kind::Text),
    ("listen.mode", Kind::Text),
    ("listen.allowed_clients", Kind::Text),
    ("process.priority", Kind::Integer),
    ("process.dumpable", Kind::Boolean),
    ("pm", Kind::Pm),
    ("pm.max_children", Kind::Integer),
    ("pm.start_servers", Kind::Integer),
    ("pm.min_spare_servers", Kind::Integer),
    ("pm.max_spare_servers", Kind::Integer),
    ("pm.max_spawn_rate", Kind::Integer),
    ("pm.process_idle_timeout", Kind::Time),
    ("pm.max_requests", Kind::Integer),
    ("pm.status_path", Kind::Text),
    ("pm.status_listen", Kind::Text),
    ("ping.path", Kind::Text),
    ("ping.response", Kind::Text),
    ("access.log", Kind::Text),
    ("access.format", Kind::Text),
    ("slowlog", Kind::Text),
    ("request_slowlog_timeout", Kind::Time),
    ("request_slowlog_trace_depth", Kind::Integer),
    ("request_terminate_timeout", Kind::Time),
    ("request_terminate_timeout_track_finished", Kind::Boolean),
    ("rlimit_files", Kind::Integer),
    ("rlimit_core", Kind::RlimitCore),
    ("chroot", Kind::Text),
    ("chdir", Kind::Text),
    ("catch_workers_output", Kind::Boolean),
    ("decorate_workers_output", Kind::Boolean),
    ("clear_env", Kind::Boolean),
    ("security.limit_extensions", Kind::Text),
    ("apparmor_hat", Kind::Text),
];

/// The `name[key] = value` entries of a pool (`fpm_conf_ini_parser_array`).
pub const ARRAYS: &[&str] = &[
    "env",
    "php_value",
    "php_admin_value",
    "php_flag",
    "php_admin_flag",
    "access.suppress_path",
];

/// The kind of entry `key` in the global section (`pool` false) or a pool, matched without
/// regard to case as PHP-FPM does (`strcasecmp`); `None` for an entry PHP-FPM does not know.
pub fn kind(key: &str, pool: bool) -> Option<Kind> {
    let table = if pool { POOL } else { GLOBAL };
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|&(_, kind)| kind)
}

/// Checks `value` as the parser of `kind` does; `Err` is PHP-FPM's message.
pub fn check(kind: Kind, value: &str) -> Result<(), &'static str> {
    match kind {
        Kind::Text => Ok(()),
        Kind::Integer => integer(value).map(drop),
        Kind::Time => seconds(value).map(drop),
        Kind::Boolean if value.is_empty() || value == "1" => Ok(()),
        Kind::Boolean => Err("invalid boolean value"),
        Kind::Pm => pm(value).map(drop),
        Kind::LogLevel => ["debug", "notice", "warning", "warn", "error", "alert"]
            .iter()
            .any(|l| l.eq_ignore_ascii_case(value))
            .then_some(())
            .ok_or("invalid value for 'log_level'"),
        Kind::RlimitCore if value.eq_ignore_ascii_case("unlimited") => Ok(()),
        Kind::RlimitCore => match integer(value)? {
            n if n < 0 => Err("must be greater than zero or 'unlimited'"),
            _ => Ok(()),
        },
    }
}

/// `fpm_conf_set_integer`: digits with an optional leading `-`, then `atoi`.
pub fn integer(value: &str) -> Result<i64, &'static str> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a valid number (greater or equal than zero)");
    }
    Ok(atoi(value))
}

/// `fpm_conf_set_time`: seconds, from an integer with an optional `s`, `m`, `h` or `d`
/// suffix (the number itself read by `atoi`, so `1.5m` is 60 s).
pub fn seconds(value: &str) -> Result<i64, &'static str> {
    let Some(last) = value.chars().last() else {
        return Err("invalid time value");
    };
    let number = &value[..value.len() - last.len_utf8()];
    Ok(match last {
        'm' => 60 * atoi(number),
        'h' => 3600 * atoi(number),
        'd' => 86_400 * atoi(number),
        's' => atoi(number),
        '0'..='9' => atoi(value),
        _ => return Err("unknown suffix used in time value"),
    })
}

/// `fpm_conf_set_pm`, case-insensitive.
pub fn pm(value: &str) -> Result<ModelKind, &'static str> {
    match ModelKind::from_str(value, true) {
        Ok(model @ (ModelKind::Static | ModelKind::Dynamic | ModelKind::Ondemand)) => Ok(model),
        Ok(ModelKind::PerEvent) | Err(_) => {
            Err("invalid process manager (static, dynamic or ondemand)")
        }
    }
}

/// C's `atoi`: optional whitespace and sign, then the leading digits (0 for none),
/// saturating where C's would overflow.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if negative { -n } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_php_fpm_does() {
        assert_eq!(integer("12"), Ok(12));
        assert_eq!(integer("-1"), Ok(-1));
        assert_eq!(integer("-"), Ok(0));
        assert!(integer("1e3").is_err());
        assert!(integer(" 5").is_err());
        assert_eq!(seconds("10s"), Ok(10));
        assert_eq!(seconds("2m"), Ok(120));
        assert_eq!(seconds("1h"), Ok(3600));
        assert_eq!(seconds("1d"), Ok(86_400));
        assert_eq!(seconds("7"), Ok(7));
        assert_eq!(seconds("1.5m"), Ok(60));
        assert_eq!(seconds("abcs"), Ok(0));
        assert_eq!(seconds("10ms"), Ok(10));
        assert!(seconds("").is_err());
        assert!(seconds("5x").is_err());
        assert!(check(Kind::Boolean, "1").is_ok());
        assert!(check(Kind::Boolean, "maybe").is_err());
        assert!(check(Kind::LogLevel, "WARN").is_ok());
        assert!(check(Kind::LogLevel, "loud").is_err());
        assert!(check(Kind::RlimitCore, "unlimited").is_ok());
        assert!(check(Kind::RlimitCore, "-2").is_err());
        assert_eq!(pm("OnDemand"), Ok(ModelKind::Ondemand));
        assert!(pm("per-event").is_err());
        assert_eq!(
            pm("adaptive"),
            Err("invalid process manager (static, dynamic or ondemand)")
        );
    }

    #[test]
    fn entries_are_known_by_section_without_regard_to_case() {
        assert_eq!(kind("PM.Max_Children", true), Some(Kind::Integer));
        assert_eq!(kind("pm.max_children", false), None);
        assert_eq!(kind("error_log", false), Some(Kind::Text));
        assert_eq!(kind("pm.max_childs", true), None);
    }
}
