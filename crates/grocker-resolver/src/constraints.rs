//! pip's requirements-file format, as much of it as constraints files (`pip -c`) use.
//!
//! Supported: `name[extras] specifiers ; markers` lines, comments (`#` at the start of a line or
//! after whitespace, as pip's `COMMENT_RE`), blank lines, `\` line continuations, and includes
//! (`-c`/`--constraint`, `-r`/`--requirement`, with or without `=`) relative to the including
//! file. Anything else pip accepts there (`--hash`, `-e`, index options, URLs, paths,
//! `${VAR}`) is an error naming the file and line: silently ignoring it would resolve something
//! other than what the file says.

use std::path::{Path, PathBuf};

use pep508_rs::{Requirement, VersionOrUrl};

use crate::ResolveError;

/// Read the constraints in `path` and in the files it includes, in file order.
pub fn parse_constraints_file(path: &Path) -> Result<Vec<Requirement>, ResolveError> {
    let mut requirements = Vec::new();
    parse_file(path, &mut Vec::new(), &mut requirements)?;
    Ok(requirements)
}

fn parse_file(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Requirement>,
) -> Result<(), ResolveError> {
    let text = fs_err::read_to_string(path)?;
    stack.push(path.to_path_buf());
    for (line, content) in logical_lines(&text) {
        let error = |message: String| ResolveError::Constraints {
            path: path.to_path_buf(),
            line,
            message,
        };
        if content.starts_with('-') {
            let include = include_target(&content).map_err(error)?;
            let target = path.parent().unwrap_or(Path::new("")).join(include);
            if stack.iter().any(|seen| seen == &target) {
                return Err(error(format!("`{}` includes itself", target.display())));
            }
            parse_file(&target, stack, out).map_err(|err| match err {
                ResolveError::Io(io) => error(io.to_string()),
                err => err,
            })?;
            continue;
        }
        if let Some(option) = content
            .split_whitespace()
            .find(|word| word.starts_with('-'))
        {
            return Err(error(format!(
                "`{option}` is not supported in a constraints file: write `name specifiers ; markers` only"
            )));
        }
        if content.contains("${") {
            return Err(error(
                "environment variables (`${…}`) are not supported".to_string(),
            ));
        }
        let requirement =
            grocker_wheel::parse_requirement(&content).map_err(|err| error(err.to_string()))?;
        if let Some(VersionOrUrl::Url(_)) = requirement.version_or_url {
            return Err(error(format!(
                "`{content}`: a constraint must name versions, not a URL"
            )));
        }
        out.push(requirement);
    }
    stack.pop();
    Ok(())
}

/// The file named by `-c FILE`, `--constraint=FILE`, `-r FILE`...; an error for other options.
fn include_target(content: &str) -> Result<&str, String> {
    let (option, rest) = match content.split_once(|c: char| c == '=' || c.is_whitespace()) {
        Some((option, rest)) => (option, rest.trim()),
        None => (content, ""),
    };
    let (option, rest) = match option {
        "-c" | "--constraint" | "-r" | "--requirement" => (option, rest),
        _ if option.len() > 2 && (option.starts_with("-c") || option.starts_with("-r")) => {
            (&option[..2], content[2..].trim())
        }
        _ => {
            let hint = match option {
                "-e" | "--editable" => "editable installs cannot constrain versions",
                "--hash" => "hashes are checked against grocker.lock, not constraints files",
                _ => "constraints files may only hold requirements and -c/-r includes",
            };
            return Err(format!("option `{option}` is not supported: {hint}"));
        }
    };
    if rest.is_empty() {
        return Err(format!("`{option}` needs a file name"));
    }
    if rest.contains("://") {
        return Err(format!(
            "`{option} {rest}`: including a URL is not supported"
        ));
    }
    Ok(rest)
}

/// Non-empty lines without comments, continuation lines joined, each with the 1-based number
/// of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        // pip: a comment line ends a continuation instead of being continued.
        let is_comment = raw.trim_start().starts_with('#');
        match raw.strip_suffix('\\') {
            Some(head) if !is_comment => {
                joined.push_str(head);
                pending = Some((start, joined));
                continue;
            }
            _ => joined.push_str(raw),
        }
        let content = strip_comment(&joined).trim().to_string();
        if !content.is_empty() {
            lines.push((start, content));
        }
    }
    if let Some((start, joined)) = pending {
        let content = strip_comment(&joined).trim().to_string();
        if !content.is_empty() {
            lines.push((start, content));
        }
    }
    lines
}

/// Drop a `#` comment that starts the line or follows whitespace (`pkg#frag` is not one).
fn strip_comment(line: &str) -> &str {
    let mut previous_is_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && previous_is_space {
            return &line[..index];
        }
        previous_is_space = c.is_whitespace();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).unwrap();
        }
        fs_err::write(&path, text).unwrap();
        path
    }

    fn names(requirements: &[Requirement]) -> Vec<String> {
        requirements.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reads_requirements_comments_continuations_and_includes() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "sub/more.txt",
            "idna<4  # inner\n-r ../last.txt\n",
        );
        write(dir.path(), "last.txt", "certifi==2024.2.2\n");
        let main = write(
            dir.path(),
            "constraints.txt",
            "# pinned for production\n\
             \n\
             requests>=2.22,\\\n    <3 ; python_version >= \"3.8\"  # trailing\n\
             urllib3 == 2.*\n\
             -c sub/more.txt\n\
             --constraint=last.txt\n",
        );
        let requirements = parse_constraints_file(&main).unwrap();
        assert_eq!(
            names(&requirements),
            [
                "requests>=2.22,<3 ; python_full_version >= '3.8'",
                "urllib3==2.*",
                "idna<4",
                "certifi==2024.2.2",
                "certifi==2024.2.2",
            ]
        );
    }

    #[test]
    fn hash_option_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "c.txt",
            "idna<4\n# comment\nrequests==2.31.0 \\\n    --hash=sha256:abcd\n",
        );
        let error = parse_constraints_file(&path).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}:3: ", path.display())),
            "{message}"
        );
        assert!(message.contains("--hash"), "{message}");
    }

    #[test]
    fn other_options_and_urls_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for (text, needle) in [
            ("-e ./project\n", "-e"),
            ("--index-url https://example.org/simple\n", "--index-url"),
            ("foo @ https://example.org/foo-1.0.whl\n", "URL"),
            ("-c\n", "needs a file name"),
            ("-r other.txt\n", "other.txt"),
        ] {
            let path = write(dir.path(), "c.txt", text);
            let message = parse_constraints_file(&path).unwrap_err().to_string();
            assert!(message.contains(needle), "{text:?} → {message}");
            assert!(message.contains("c.txt"), "{text:?} → {message}");
        }
    }

    #[test]
    fn include_cycles_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.txt", "-c a.txt\n");
        let a = write(dir.path(), "a.txt", "-c b.txt\n");
        let message = parse_constraints_file(&a).unwrap_err().to_string();
        assert!(message.contains("includes itself"), "{message}");
    }

    #[test]
    fn comments_need_a_space_before_the_hash() {
        assert_eq!(strip_comment("foo>=1 # c"), "foo>=1 ");
        assert_eq!(strip_comment("# c"), "");
        assert_eq!(strip_comment("foo#bar"), "foo#bar");
    }
}
