//! `entry_points.txt` and the console-script launchers generated from it.
//!
//! Entry points specification: "Within a section, each entry point is given as
//! `name = value`. The name may contain any characters except `=`", and the value is an object
//! reference, `importable.module:object.attr`, optionally followed by `[extra1, extra2]`.
//! "Two groups of entry points have special significance in packaging: console_scripts and
//! gui_scripts. In both groups, the name of the entry point should be usable as a command in a
//! system shell after the package is installed. The object reference points to a function
//! which will be called with no arguments when this command is run."

/// One `name = module:attr [extras]` line of a scripts group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) name: String,
    pub(crate) module: String,
    /// `object.attr`; a script entry point must have one (pip: "A callable suffix is required").
    pub(crate) attr: String,
}

/// The `console_scripts` and `gui_scripts` groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scripts {
    pub(crate) console: Vec<Script>,
    pub(crate) gui: Vec<Script>,
}

/// Reads the two script groups of `entry_points.txt`; other groups (plugins) are not grocker's
/// business and are not validated.
pub(crate) fn parse(text: &str) -> Result<Scripts, String> {
    let mut scripts = Scripts::default();
    let mut section: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        let group = match section.as_deref() {
            Some("console_scripts") => &mut scripts.console,
            Some("gui_scripts") => &mut scripts.gui,
            _ => continue,
        };
        // `=` only, as `importlib.metadata` (which pip uses) splits: `:` belongs to the value.
        let Some(split) = line.find('=') else {
            return Err(format!("line {}: `{line}` is not `name = value`", n + 1));
        };
        let (name, value) = (line[..split].trim(), line[split + 1..].trim());
        group.push(parse_script(name, value).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(scripts)
}

fn parse_script(name: &str, value: &str) -> Result<Script, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!("`{name}` cannot be a script file name"));
    }
    // `[extras]` only says which extras the script needs at run time; the launcher ignores it.
    let value = match value.find('[') {
        Some(i) if value.ends_with(']') => value[..i].trim(),
        _ => value,
    };
    let Some((module, attr)) = value.split_once(':') else {
        return Err(format!(
            "script `{name}` = `{value}` has no callable (`module:function` expected)"
        ));
    };
    let (module, attr) = (module.trim(), attr.trim());
    // Both end up in Python source: only dotted identifiers may pass.
    for (what, path) in [("module", module), ("callable", attr)] {
        if !is_dotted_identifier(path) {
            return Err(format!(
                "script `{name}`: `{path}` is not a valid {what} (dotted Python identifiers)"
            ));
        }
    }
    Ok(Script {
        name: name.to_string(),
        module: module.to_string(),
        attr: attr.to_string(),
    })
}

fn is_dotted_identifier(path: &str) -> bool {
    path.split('.').all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    })
}

/// The launcher pip and uv write for a script entry point, with `python` in the shebang.
pub(crate) fn launcher(python: &str, script: &Script) -> String {
    let head = script.attr.split('.').next().unwrap_or(&script.attr);
    format!(
        "#!{python}\n\
         # -*- coding: utf-8 -*-\n\
         import re\n\
         import sys\n\
         from {module} import {head}\n\
         if __name__ == \"__main__\":\n\
         \x20   sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n\
         \x20   sys.exit({attr}())\n",
        module = script.module,
        attr = script.attr,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_groups_and_ignores_plugins() {
        let text = "# comment\n[console_scripts]\nhttp = httpie.__main__:main\n\
                    tool=pkg.cli:App.run [color, fast]\n\n[gui_scripts]\nviewer=pkg.gui:main\n\
                    [pytest11]\nplugin = whatever at all\n";
        let s = parse(text).unwrap();
        assert_eq!(s.console.len(), 2);
        assert_eq!(s.console[1].attr, "App.run");
        assert_eq!(s.gui[0].name, "viewer");
        assert_eq!(
            launcher("/opt/venv/bin/python", &s.console[1]),
            "#!/opt/venv/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n\
             from pkg.cli import App\nif __name__ == \"__main__\":\n    \
             sys.argv[0] = re.sub(r\"(-script\\.pyw|\\.exe)?$\", \"\", sys.argv[0])\n    \
             sys.exit(App.run())\n"
        );
    }

    #[test]
    fn rejects_what_would_escape_bin_or_inject_code() {
        for bad in [
            "[console_scripts]\n../evil = m:f\n",
            "[console_scripts]\na/b = m:f\n",
            "[console_scripts]\nx = module_without_callable\n",
            "[console_scripts]\nx = os; import evil:f\n",
            "[console_scripts]\nx = m:f()\n",
            "[console_scripts]\nno delimiter\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
