//! `--fpm-config FILE [--pool NAME]`: one pool of a real PHP-FPM configuration, read as
//! PHP-FPM 8.2 reads it (php-src `sapi/fpm/fpm/fpm_conf.c`):
//!
//! - line by line (`fpm_conf_load_ini_file`, [`ini`]): `[global]` and `[pool]` sections
//!   (a section named again continues that pool), `;` comments, `key = value`;
//! - `include = PATTERN` reads the files the glob matches, in order, where the line is
//!   (`fpm_conf_ini_parser_include`), at most 5 files deep; a relative pattern is relative
//!   to the prefix (`-p`, by default `/usr`: seen live, `include=pool.d/*.conf` looks in
//!   `/usr/pool.d`), not to the including file; a pattern whose directory does not exist
//!   fails the file, one that matches nothing is a warning;
//! - every entry must be one PHP-FPM knows, with a value its parser takes ([`keys`]);
//!   `$pool` in a text value is the pool's name, and an error in `[global]`;
//! - the pool's values checked as `fpm_conf_process_all_pools` checks them, with its words
//!   (the dynamic spare-server rules are [`Spares::new`]'s).
//!
//! What the simulator models is returned in an [`FpmPool`]; every other entry is named in
//! [`FpmPool::notes`], for one stderr line.

mod ini;
mod keys;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use listenlab_common::{Endpoint, HostPort, Pick, UnixPath};

use super::models::{ModelKind, Spares};

/// PHP-FPM's default prefix (`php-fpm8.2 -h`: "default: /usr"), against which a relative
/// `include` pattern or unix `listen` path is resolved.
pub const PHP_FPM_PREFIX: &str = "/usr";

/// Files deeper than this are refused (`ini_recursion++ > 4`).
const MAX_DEPTH: usize = 5;

/// The largest `pm.max_children` the simulator takes (its `--max-children` range).
const MAX_CHILDREN: i64 = 100_000;

/// A configuration that PHP-FPM would refuse, or that cannot be read: the message names the
/// file (and line) and what is wrong, in PHP-FPM's words where it has them.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FpmConfigError(String);

/// What the simulator takes from one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct FpmPool {
    /// The pool's name (its section).
    pub name: String,
    /// `pm`.
    pub model: ModelKind,
    /// `pm.max_children`.
    pub max_children: u32,
    /// Dynamic: `pm.start_servers` (0 or less: PHP-FPM's default), `pm.min_spare_servers`,
    /// `pm.max_spare_servers`, `pm.max_spawn_rate`, validated; `None` for the other models.
    pub spares: Option<Spares>,
    /// Ondemand: `pm.process_idle_timeout` (default 10 s); `None` for the other models.
    pub process_idle_timeout: Option<Duration>,
    /// `pm.max_requests`; `None` for 0 (or less): never.
    pub max_requests: Option<u64>,
    /// `listen`, resolved (a bare port is every IPv4 address, as PHP-FPM binds it).
    pub listen: Endpoint,
    /// `listen.backlog` (PHP-FPM's default -1, or any negative value, is passed as the
    /// largest; the kernel caps it at `net.core.somaxconn` either way).
    pub backlog: Option<u32>,
    /// Warnings and the entries not modelled, for stderr.
    pub notes: Vec<String>,
}

/// One `key = value` kept for a pool.
#[derive(Debug, Clone)]
struct Entry {
    /// The key as written (`pm.max_children`, `php_admin_value[memory_limit]`).
    key: String,
    value: String,
    at: String,
}

/// A pool's entries in file order.
#[derive(Debug, Default)]
struct PoolEntries {
    name: String,
    entries: Vec<Entry>,
}

/// Reads the files, following includes.
struct Reader {
    prefix: PathBuf,
    pools: Vec<PoolEntries>,
    /// The section being read: `None` for `[global]` (also before any section).
    current: Option<usize>,
    global_keys: Vec<String>,
    depth: usize,
    notes: Vec<String>,
}

/// Reads `path` and returns pool `pool` (or the only pool), checked as PHP-FPM checks it.
/// `prefix` is PHP-FPM's `-p` ([`PHP_FPM_PREFIX`] by default).
pub fn load(path: &Path, pool: Option<&str>, prefix: &Path) -> Result<FpmPool, FpmConfigError> {
    let mut reader = Reader {
        prefix: prefix.to_owned(),
        pools: Vec::new(),
        current: None,
        global_keys: Vec::new(),
        depth: 0,
        notes: Vec::new(),
    };
    reader.read(path)?;
    let file = path.display();
    let names: Vec<&str> = reader.pools.iter().map(|p| p.name.as_str()).collect();
    let chosen = match (pool, reader.pools.as_slice()) {
        (_, []) => {
            return Err(error(format_args!(
                "{file}: at least one pool section must be specified in config file"
            )));
        }
        (None, [one]) => one,
        (None, _) => {
            return Err(error(format_args!(
                "{file} has {} pools ({}); choose one with --pool NAME",
                names.len(),
                names.join(", ")
            )));
        }
        (Some(want), pools) => pools
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(want))
            .ok_or_else(|| {
                error(format_args!(
                    "--pool {want}: {file} has no pool [{want}]; its pools are {}",
                    names.join(", ")
                ))
            })?,
    };
    let mut found = pool_values(chosen, prefix).map_err(|e| error(format_args!("{file}: {e}")))?;
    found.notes = reader.notes;
    let ignored: Vec<&str> = unique(
        chosen
            .entries
            .iter()
            .map(|e| e.key.as_str())
            .filter(|k| !MODELLED.iter().any(|m| m.eq_ignore_ascii_case(k))),
    );
    let globals = unique(reader.global_keys.iter().map(String::as_str));
    if !ignored.is_empty() || !globals.is_empty() {
        found.notes.push(format!(
            "{file}: not modelled, ignored: [{}] {}{}",
            chosen.name,
            if ignored.is_empty() {
                "-".to_owned()
            } else {
                ignored.join(", ")
            },
            if globals.is_empty() {
                String::new()
            } else {
                format!("; [global] {}", globals.join(", "))
            }
        ));
    }
    Ok(found)
}

/// The pool entries the simulator models.
const MODELLED: [&str; 10] = [
    "pm",
    "pm.max_children",
    "pm.start_servers",
    "pm.min_spare_servers",
    "pm.max_spare_servers",
    "pm.max_spawn_rate",
    "pm.process_idle_timeout",
    "pm.max_requests",
    "listen",
    "listen.backlog",
];

fn error(message: impl Display) -> FpmConfigError {
    FpmConfigError(message.to_string())
}

/// `items` without repeats (compared without regard to case), in first-seen order.
fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.iter().any(|s| s.eq_ignore_ascii_case(item)) {
            seen.push(item);
        }
    }
    seen
}

impl Reader {
    /// Reads one file (`fpm_conf_load_ini_file`).
    fn read(&mut self, path: &Path) -> Result<(), FpmConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            error(format_args!(
                "failed to open configuration file '{}': {e}; give a PHP-FPM configuration \
                 (php-fpm.conf or a pool's www.conf)",
                path.display()
            ))
        })?;
        if self.depth >= MAX_DEPTH {
            return Err(error(format_args!(
                "{}: failed to include more than {MAX_DEPTH} files recursively",
                path.display()
            )));
        }
        self.depth += 1;
        for (i, line) in text.lines().enumerate() {
            let at = format!("{}:{}", path.display(), i + 1);
            let parsed = ini::parse(line).map_err(|why| {
                error(format_args!(
                    "{at}: syntax error ({why}) in '{}'; expected [section], key = value or \
                     a ; comment",
                    line.trim()
                ))
            })?;
            match parsed {
                ini::Line::Empty => {}
                ini::Line::Section(name) => self.section(name),
                ini::Line::Entry { key, value, .. } if key == "include" => {
                    self.include(&value, &at)?;
                }
                ini::Line::Entry { key, sub, value } => self.entry(key, sub, value, at)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// `fpm_conf_ini_parser_section`.
    fn section(&mut self, name: String) {
        if name.eq_ignore_ascii_case("global") {
            self.current = None;
            return;
        }
        self.current = Some(
            match self
                .pools
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(&name))
            {
                Some(i) => i,
                None => {
                    self.pools.push(PoolEntries {
                        name,
                        entries: Vec::new(),
                    });
                    self.pools.len() - 1
                }
            },
        );
    }

    /// `fpm_conf_ini_parser_include`.
    fn include(&mut self, pattern: &str, at: &str) -> Result<(), FpmConfigError> {
        let pattern = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.prefix.join(pattern)
        };
        let shown = pattern.display().to_string();
        let unable =
            |why: &dyn Display| error(format_args!("{at}: Unable to globalize '{shown}': {why}"));
        let mut files = Vec::new();
        for found in glob::glob(&shown).map_err(|e| unable(&e))? {
            let found = found.map_err(|e| unable(&e))?;
            // GLOB_MARK marks directories, which PHP-FPM skips.
            if !found.is_dir() {
                files.push(found);
            }
        }
        if files.is_empty() {
            // glob(3) with GLOB_ERR fails where the directory cannot be opened (seen live:
            // ret=2 for a missing one); the glob crate just matches nothing there.
            let dir = literal_dir(&pattern);
            if !dir.is_dir() {
                return Err(unable(&format_args!(
                    "no directory {} to look in",
                    dir.display()
                )));
            }
            self.notes.push(format!(
                "WARNING: Nothing matches the include pattern '{shown}' from {at}."
            ));
        }
        for file in files {
            self.read(&file)?;
        }
        Ok(())
    }

    /// `fpm_conf_ini_parser_entry` and `fpm_conf_ini_parser_array`.
    fn entry(
        &mut self,
        key: String,
        sub: Option<String>,
        mut value: String,
        at: String,
    ) -> Result<(), FpmConfigError> {
        let in_pool = self.current.is_some();
        let shown_key = match &sub {
            Some(sub) => {
                if !in_pool {
                    return Err(error(format_args!(
                        "{at}: Array are not allowed in the global section"
                    )));
                }
                if !keys::ARRAYS.contains(&key.as_str()) {
                    return Err(error(format_args!("{at}: unknown directive '{key}'")));
                }
                if sub.is_empty() && key != "access.suppress_path" {
                    return Err(error(format_args!(
                        "{at}: You must provide a key for field '{key}'"
                    )));
                }
                format!("{key}[{sub}]")
            }
            None => {
                let kind = keys::kind(&key, in_pool)
                    .ok_or_else(|| error(format_args!("{at}: unknown entry '{key}'")))?;
                keys::check(kind, &value).map_err(|why| {
                    error(format_args!(
                        "{at}: unable to parse value for entry '{key}': {why}"
                    ))
                })?;
                key.clone()
            }
        };
        let text = sub.is_some() || keys::kind(&key, in_pool) == Some(keys::Kind::Text);
        match self.current {
            None => {
                if text && value.contains("$pool") {
                    return Err(error(format_args!(
                        "{at}: unable to parse value for entry '{key}': Can't use '$pool' \
                         when the pool is not defined"
                    )));
                }
                self.global_keys.push(shown_key);
            }
            Some(i) => {
                let pool = &mut self.pools[i];
                if text {
                    value = value.replace("$pool", &pool.name);
                }
                pool.entries.push(Entry {
                    key: shown_key,
                    value,
                    at,
                });
            }
        }
        Ok(())
    }
}

/// The directory part of `pattern` before its first glob character.
fn literal_dir(pattern: &Path) -> PathBuf {
    let mut dir = PathBuf::new();
    for part in pattern.parent().into_iter().flat_map(Path::components) {
        if part.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        dir.push(part);
    }
    dir
}

/// The pool's modelled values, checked as `fpm_conf_process_all_pools` does.
fn pool_values(pool: &PoolEntries, prefix: &Path) -> Result<FpmPool, FpmConfigError> {
    let name = &pool.name;
    // The last value given wins (8.2's setters replace what was there).
    let last = |key: &str| {
        pool.entries
            .iter()
            .rev()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    };
    // Every value below was checked by its parser when read.
    let int = |key: &str| last(key).map(|e| keys::integer(&e.value).unwrap_or_default());
    let fail = |what: &dyn Display| error(format_args!("[pool {name}] {what}"));

    let listen = last("listen")
        .filter(|e| !e.value.is_empty())
        .ok_or_else(|| fail(&"no listen address have been defined!"))?;
    let listen_at = last("prefix")
        .map(|e| prefix.join(&e.value))
        .unwrap_or_else(|| prefix.to_owned());
    let listen = endpoint(&listen.value, &listen_at).map_err(|why| {
        error(format_args!(
            "{}: [pool {name}] listen '{}': {why}",
            listen.at, listen.value
        ))
    })?;
    let model = last("pm")
        .map(|e| keys::pm(&e.value).unwrap_or(ModelKind::Static))
        .ok_or_else(|| fail(&"the process manager is missing (static, dynamic or ondemand)"))?;
    let max_children = int("pm.max_children").unwrap_or(0);
    if max_children < 1 {
        return Err(fail(&"pm.max_children must be a positive value"));
    }
    if max_children > MAX_CHILDREN {
        return Err(fail(&format_args!(
            "pm.max_children({max_children}) is more than the simulator's {MAX_CHILDREN}; \
             lower it or give --max-children"
        )));
    }
    let spares = match model {
        ModelKind::Dynamic => Some(
            Spares::new(
                max_children,
                int("pm.start_servers"),
                int("pm.min_spare_servers").unwrap_or(0),
                int("pm.max_spare_servers").unwrap_or(0),
                int("pm.max_spawn_rate").unwrap_or(32),
            )
            .map_err(|e| fail(&e))?,
        ),
        _ => None,
    };
    let process_idle_timeout = match model {
        ModelKind::Ondemand => {
            let secs = last("pm.process_idle_timeout")
                .map_or(10, |e| keys::seconds(&e.value).unwrap_or_default());
            if secs < 1 {
                return Err(fail(&format_args!(
                    "pm.process_idle_timeout({secs}s) must be greater than 0s"
                )));
            }
            Some(Duration::from_secs(secs.unsigned_abs()))
        }
        _ => None,
    };
    Ok(FpmPool {
        name: name.clone(),
        model,
        max_children: u32::try_from(max_children).unwrap_or(u32::MAX),
        spares,
        process_idle_timeout,
        max_requests: int("pm.max_requests")
            .filter(|&n| n > 0)
            .map(i64::unsigned_abs),
        listen,
        backlog: int("listen.backlog").map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        notes: Vec::new(),
    })
}

/// PHP-FPM's `listen` value as an endpoint (`fpm_sockets_domain_from_address`: a value
/// with a `:` or of digits only is TCP, anything else a unix path, relative to `prefix`).
fn endpoint(value: &str, prefix: &Path) -> Result<Endpoint, String> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    if value.contains(':') || digits {
        let text = if digits {
            format!("0.0.0.0:{value}")
        } else {
            value.to_owned()
        };
        let hp = HostPort::parse_listen(&text).map_err(|e| e.to_string())?;
        return hp
            .resolve(Pick::First)
            .map(Endpoint::Inet)
            .map_err(|e| e.to_string());
    }
    let path = prefix.join(value);
    let unix: UnixPath = path
        .display()
        .to_string()
        .parse()
        .map_err(|e| format!("{e}"))?;
    Ok(Endpoint::Unix(unix.as_path().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load_text(text: &str, pool: Option<&str>) -> Result<FpmPool, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "php-fpm.conf", text);
        load(&path, pool, Path::new(PHP_FPM_PREFIX)).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_a_pool_through_includes_with_comments_and_dollar_pool() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let main = write(
            dir.path(),
            "php-fpm.conf",
            &format!("[global]\n; a comment\nerror_log = {d}/e.log\ninclude = {d}/pool.d/*.conf\n"),
        );
        write(
            dir.path(),
            "pool.d/www.conf",
            &format!(
                "[www]\nuser = nobody\nlisten = {d}/$pool.sock ; where\nlisten.backlog = 99\n\
                 pm = dynamic\npm.max_children = 7\npm.start_servers = \"3\"\n\
                 pm.min_spare_servers = 2\npm.max_spare_servers = 4\npm.max_requests = 50\n\
                 php_admin_value[memory_limit] = 64M\n"
            ),
        );
        let pool = load(&main, None, Path::new(PHP_FPM_PREFIX)).unwrap();
        assert_eq!(pool.name, "www");
        assert_eq!(pool.model, ModelKind::Dynamic);
        assert_eq!(pool.max_children, 7);
        let spares = pool.spares.unwrap();
        assert_eq!((spares.start, spares.min, spares.max), (3, 2, 4));
        assert_eq!(spares.max_spawn_rate, 32);
        assert_eq!(pool.max_requests, Some(50));
        assert_eq!(pool.backlog, Some(99));
        assert_eq!(
            pool.listen,
            Endpoint::Unix(dir.path().join("www.sock")),
            "$pool expanded"
        );
        assert_eq!(pool.process_idle_timeout, None);
        let notes = pool.notes.join("\n");
        assert!(
            notes.contains("[www] user, php_admin_value[memory_limit]; [global] error_log"),
            "{notes}"
        );
    }

    #[test]
    fn relative_includes_and_listen_paths_are_relative_to_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let main = write(dir.path(), "etc/php-fpm.conf", "include=pool.d/*.conf\n");
        write(
            dir.path(),
            "pool.d/a.conf",
            "[a]\nlisten = a.sock\npm = ondemand\npm.max_children = 2\n\
             pm.process_idle_timeout = 1m\n",
        );
        let pool = load(&main, None, dir.path()).unwrap();
        assert_eq!(pool.listen, Endpoint::Unix(dir.path().join("a.sock")));
        assert_eq!(pool.process_idle_timeout, Some(Duration::from_secs(60)));
        // Against /usr (PHP-FPM's default prefix) the directory does not exist.
        let err = load(&main, None, Path::new(PHP_FPM_PREFIX)).unwrap_err();
        assert!(
            err.to_string()
                .contains("Unable to globalize '/usr/pool.d/*.conf'")
        );
    }

    #[test]
    fn a_tcp_listen_and_the_defaults() {
        let pool = load_text(
            "[w]\nlisten = 127.0.0.1:0\npm = static\npm.max_children = 3\npm.max_requests = 0\n",
            None,
        )
        .unwrap();
        assert_eq!(pool.listen, Endpoint::Inet("127.0.0.1:0".parse().unwrap()));
        assert_eq!((pool.max_requests, pool.backlog), (None, None));
        assert!(pool.notes.is_empty(), "{:?}", pool.notes);
        let pool = load_text(
            "[w]\nlisten = 9000\npm = ondemand\npm.max_children = 3\n",
            None,
        )
        .unwrap();
        assert_eq!(pool.listen, Endpoint::Inet("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(pool.process_idle_timeout, Some(Duration::from_secs(10)));
        let pool = load_text(
            "[w]\nlisten = 9000\nlisten.backlog = -1\npm = static\npm.max_children = 3\n",
            None,
        )
        .unwrap();
        assert_eq!(pool.backlog, Some(u32::MAX));
    }

    #[test]
    fn chooses_a_pool_by_name_when_there_are_several() {
        let text = "[a]\nlisten = /tmp/a.sock\npm = static\npm.max_children = 1\n\
                    [b]\nlisten = /tmp/b.sock\npm = static\npm.max_children = 2\n\
                    [A]\npm.max_children = 3\n";
        assert_eq!(load_text(text, Some("b")).unwrap().max_children, 2);
        assert_eq!(load_text(text, Some("a")).unwrap().max_children, 3);
        let err = load_text(text, None).unwrap_err();
        assert!(
            err.ends_with("has 2 pools (a, b); choose one with --pool NAME"),
            "{err}"
        );
        let err = load_text(text, Some("c")).unwrap_err();
        assert!(err.contains("has no pool [c]; its pools are a, b"), "{err}");
    }

    #[test]
    fn refuses_what_php_fpm_refuses_in_its_words() {
        let pool = "[w]\nlisten = /tmp/w.sock\n";
        let table = [
            (
                "[global]\npid = /tmp/x.pid\n",
                "at least one pool section must be specified",
            ),
            ("[w]\npm dynamic\n", "php-fpm.conf:2: syntax error"),
            (
                "[w]\npm.max_childs = 3\n",
                "php-fpm.conf:2: unknown entry 'pm.max_childs'",
            ),
            ("pm = static\n", "php-fpm.conf:1: unknown entry 'pm'"),
            (
                "error_log = /tmp/$pool.log\n[w]\n",
                "Can't use '$pool' when the pool",
            ),
            (
                "[w]\npm = adaptive\n",
                "invalid process manager (static, dynamic or ondemand)",
            ),
            ("[w]\npm.max_children = ten\n", "is not a valid number"),
            ("[w]\nenv[] = x\n", "You must provide a key for field 'env'"),
            ("[w]\nfoo[x] = y\n", "unknown directive 'foo'"),
            (
                "[w]\npm = static\npm.max_children = 1\n",
                "no listen address have been defined!",
            ),
            (pool, "[pool w] the process manager is missing"),
            (
                "[w]\nlisten = /tmp/w.sock\npm = static\n",
                "pm.max_children must be a positive",
            ),
            (
                "[w]\nlisten = /tmp/w.sock\npm = dynamic\npm.max_children = 5\n\
                 pm.min_spare_servers = 3\npm.max_spare_servers = 2\n",
                "[pool w] pm.max_spare_servers(2) must not be less than pm.min_spare_servers(3)",
            ),
            (
                "[w]\nlisten = /tmp/w.sock\npm = dynamic\npm.max_children = 5\n\
                 pm.min_spare_servers = -1\npm.max_spare_servers = 2\n",
                "pm.min_spare_servers(-1) must be a positive value",
            ),
            (
                "[w]\nlisten = /tmp/w.sock\npm = ondemand\npm.max_children = 5\n\
                 pm.process_idle_timeout = 0\n",
                "pm.process_idle_timeout(0s) must be greater than 0s",
            ),
        ];
        for (text, want) in table {
            let err = load_text(text, None).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = load(Path::new("/nonexistent/www.conf"), None, Path::new("/usr")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to open configuration file '/nonexistent/www.conf'"),
            "{err}"
        );
    }

    #[test]
    fn includes_stop_five_files_deep_and_an_empty_match_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        for i in 0..6 {
            write(
                dir.path(),
                &format!("{i}.conf"),
                &format!("include = {d}/{}.conf\n", i + 1),
            );
        }
        let err = load(&dir.path().join("0.conf"), None, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("more than 5 files recursively"),
            "{err}"
        );
        let main = write(
            dir.path(),
            "main.conf",
            &format!(
                "include = {d}/none/*.conf\n[w]\nlisten = /tmp/w.sock\npm = static\n\
                      pm.max_children = 1\n"
            ),
        );
        std::fs::create_dir(dir.path().join("none")).unwrap();
        let pool = load(&main, None, dir.path()).unwrap();
        assert!(
            pool.notes[0].contains("Nothing matches the include pattern"),
            "{:?}",
            pool.notes
        );
    }
}
