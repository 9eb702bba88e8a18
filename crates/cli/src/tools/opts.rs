//! Kafka-style flag parsing for the tools (jopt-simple's conventions, as Kafka's scripts use
//! them): `--name value` or `--name=value`, flags that take no value, repeated flags collect
//! every value. Each tool declares its flags once as [`Opt`]s, with the help text; `--help`
//! and `--version` are handled here for every tool.

use std::collections::HashMap;

/// One flag of a tool.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// Without the leading dashes: `bootstrap-server`.
    pub name: &'static str,
    /// `Some(what)`: the flag takes a value, described as `what` in the help.
    pub arg: Option<&'static str>,
    pub help: &'static str,
}

/// Shorthand for a flag that takes a value.
pub const fn arg(name: &'static str, what: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        arg: Some(what),
        help,
    }
}

/// Shorthand for a flag without a value.
pub const fn flag(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        arg: None,
        help,
    }
}

/// What a tool's flags parsed to.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    /// Every flag with its value ("" for flags without one), in command-line order.
    pub order: Vec<(&'static str, String)>,
    /// Arguments that are not flags, in order.
    pub positional: Vec<String>,
}

impl Parsed {
    /// Whether the flag was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The last value of the flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value of a repeated flag, in order.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// The value parsed as a number. Errors name the flag and the bad value.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> anyhow::Result<Option<T>> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
                anyhow::anyhow!("invalid value '{v}' for --{name}: expected a number")
            }),
        }
    }

    /// The value of a required flag. Errors: `Missing required argument "[name]"`, Kafka's
    /// wording, plus the fix.
    pub fn required(&self, name: &str) -> anyhow::Result<&str> {
        self.value(name).ok_or_else(|| {
            anyhow::anyhow!("Missing required argument \"[{name}]\"; add --{name} <value>")
        })
    }
}

/// Outcome of parsing: run with the flags, or help/version was printed.
pub enum Parse {
    Run(Parsed),
    Done,
}

/// Parses `args` against `opts`. `--help`/`-h` prints `usage` plus the flag table and
/// `examples`; `--version` prints the version. Errors: an unknown flag, a missing value,
/// `--zookeeper` (Strom, like Kafka 3+, has none), or a positional argument when
/// `positional_ok` is false.
pub fn parse(
    tool: &str,
    usage: &str,
    opts: &[Opt],
    examples: &str,
    args: &[String],
    positional_ok: bool,
) -> anyhow::Result<Parse> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--help" || a == "-h" {
            println!("{}", help_text(tool, usage, opts, examples));
            return Ok(Parse::Done);
        }
        if a == "--version" {
            println!("{} (Strom)", env!("CARGO_PKG_VERSION"));
            return Ok(Parse::Done);
        }
        let Some(body) = a.strip_prefix("--") else {
            if positional_ok && !(a.starts_with('-') && a.len() > 1) {
                p.positional.push(a.clone());
                continue;
            }
            if a.starts_with('-') && a.len() > 1 {
                anyhow::bail!("{a} is not a recognized option; see 'strom {tool} --help'");
            }
            anyhow::bail!(
                "unexpected argument '{a}'; every value follows a flag (see 'strom {tool} --help')"
            );
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "zookeeper" {
            anyhow::bail!(
                "--zookeeper is not supported: Strom, like Kafka 3.0 and later, has no ZooKeeper; use --bootstrap-server <host:port> instead"
            );
        }
        let Some(opt) = opts.iter().find(|o| o.name == name) else {
            anyhow::bail!("--{name} is not a recognized option; see 'strom {tool} --help'");
        };
        let value = match (opt.arg, inline) {
            (None, None) => String::new(),
            (None, Some(_)) => anyhow::bail!("option --{name} takes no value"),
            (Some(_), Some(v)) => v,
            (Some(what), None) => match args.get(i) {
                Some(v) if !(v.starts_with("--") && v.len() > 2) => {
                    i += 1;
                    v.clone()
                }
                _ => anyhow::bail!("Option {name} requires an argument; give --{name} <{what}>"),
            },
        };
        p.order.push((opt.name, value.clone()));
        p.values.entry(opt.name).or_default().push(value);
    }
    Ok(Parse::Run(p))
}

/// The `--help` text: usage line, a Kafka-style option table, examples.
pub fn help_text(tool: &str, usage: &str, opts: &[Opt], examples: &str) -> String {
    let mut rows: Vec<(String, &str)> = opts
        .iter()
        .map(|o| {
            let left = match o.arg {
                Some(what) => format!("--{} <{what}>", o.name),
                None => format!("--{}", o.name),
            };
            (left, o.help)
        })
        .collect();
    rows.push(("--help".into(), "Print usage information."));
    rows.push(("--version".into(), "Display Strom version."));
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(6).min(44);
    let mut out = format!("strom {tool}: {usage}\n\n");
    out.push_str(&format!("{:width$}  Description\n", "Option"));
    out.push_str(&format!("{:width$}  -----------\n", "------"));
    for (left, help) in rows {
        if left.len() > width {
            out.push_str(&format!("{left}\n{:width$}  {help}\n", ""));
        } else {
            out.push_str(&format!("{left:width$}  {help}\n"));
        }
    }
    if !examples.is_empty() {
        out.push_str("\nExamples:\n");
        out.push_str(examples);
    }
    out.trim_end().to_string()
}

/// Parses `k=v` pairs (from repeated flags) into (key, value) at the first `=`, as Kafka's
/// `parseKeyValueArgs` does: the value is kept verbatim (a separator may be a blank), the key
/// is trimmed. Errors name the offending entry.
pub fn key_values(entries: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    entries
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(anyhow::anyhow!(
                "invalid {flag} '{e}': all entries must be in the format \"key=val\""
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        arg("topic", "topic", "The topic."),
        arg("config", "name=value", "A config."),
        flag("create", "Create."),
    ];

    fn run(args: &[&str]) -> anyhow::Result<Parsed> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse("topics", "u", OPTS, "", &args, false)? {
            Parse::Run(p) => Ok(p),
            Parse::Done => panic!("help printed"),
        }
    }

    #[test]
    fn values_flags_and_repeats() {
        let p = run(&[
            "--create",
            "--topic",
            "a",
            "--config=x=1",
            "--config",
            "y = 2",
        ])
        .unwrap();
        assert!(p.has("create"));
        assert_eq!(p.value("topic"), Some("a"));
        assert_eq!(p.values("config"), ["x=1", "y = 2"]);
        assert_eq!(
            key_values(p.values("config"), "--config").unwrap(),
            vec![("x".into(), "1".into()), ("y".into(), " 2".into())]
        );
    }

    #[test]
    fn errors_are_one_line_and_name_the_fix() {
        let e = run(&["--bogus"]).err().unwrap().to_string();
        assert_eq!(
            e,
            "--bogus is not a recognized option; see 'strom topics --help'"
        );
        let e = run(&["--topic"]).err().unwrap().to_string();
        assert!(e.starts_with("Option topic requires an argument"), "{e}");
        let e = run(&["--zookeeper", "zk:2181"]).err().unwrap().to_string();
        assert!(e.contains("--bootstrap-server"), "{e}");
        let e = run(&["stray"]).err().unwrap().to_string();
        assert!(e.contains("unexpected argument 'stray'"), "{e}");
        assert!(key_values(&["novalue".into()], "--config").is_err());
        let p = run(&[]).unwrap();
        assert!(p
            .required("topic")
            .unwrap_err()
            .to_string()
            .contains("[topic]"));
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help_text("topics", "Create topics.", OPTS, "  strom topics --list\n");
        for f in [
            "--topic <topic>",
            "--config <name=value>",
            "--create",
            "--help",
            "--version",
        ] {
            assert!(h.contains(f), "{f} missing from {h}");
        }
        assert!(h.contains("Examples:"));
    }
}
