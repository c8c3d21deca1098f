//! `compose login REGISTRY`: checks a user name and password against the registry, then keeps them
//! where podman and docker read them (the file is named on stderr).

use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;

use compose::registry::{self, Credentials, Options, RegistryError};

use super::{Failure, exit};

#[derive(Args)]
pub struct LoginArgs {
    /// The registry: HOST or HOST:PORT.
    registry: String,
    /// The user name (asked for on a terminal when not given).
    #[arg(short, long)]
    username: Option<String>,
    /// Read the password from stdin (also the case whenever stdin is not a terminal).
    #[arg(long)]
    password_stdin: bool,
    /// The auth file to write. Default: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json,
    /// else ~/.config/containers/auth.json.
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// false: the registry may use plain HTTP or an unverified certificate.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Trust the CA certificates (`*.crt`) in DIR too.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
}

pub fn run(args: LoginArgs) -> Result<(), Failure> {
    let terminal = io::stdin().is_terminal() && !args.password_stdin;
    let username = match args.username {
        Some(u) => u,
        None if terminal => prompt("Username: ", true).map_err(stdin_failure)?,
        None => return Err(usage("--username is required when the password comes from stdin")),
    };
    let password = if terminal { prompt("Password: ", false) } else { password_from_stdin() };
    let password = password.map_err(stdin_failure)?;
    if username.is_empty() || password.is_empty() {
        return Err(usage("the user name and the password must not be empty"));
    }
    let options = Options {
        tls_verify: args.tls_verify,
        cert_dir: args.cert_dir.as_deref().map(super::absolute),
        auth_file: args.authfile.as_deref().map(super::absolute),
        ..Options::default()
    };
    let credentials = Credentials { username, password };
    let path = registry::login(&args.registry, &credentials, &options).map_err(|e| match e {
        RegistryError::Unauthorized { .. } => {
            let hint = format!("check the user name and password for `{}`", args.registry);
            Failure { hint: Some(hint), ..registry_failure(e) }
        }
        e => registry_failure(e),
    })?;
    println!("Login Succeeded");
    eprintln!("credentials for `{}` written to `{}`", args.registry, path.display());
    Ok(())
}

/// Every registry error is exit 18, with the library's hint.
pub fn registry_failure(e: RegistryError) -> Failure {
    let hint = e.hint();
    Failure { code: exit::REGISTRY, error: Box::new(e), hint, details: Vec::new() }
}

fn usage(message: &str) -> Failure {
    Failure::msg(exit::USAGE, message.to_string(), None)
}

fn stdin_failure(e: io::Error) -> Failure {
    Failure::msg(exit::FAILURE, format!("cannot read the credentials from stdin: {e}"), None)
}

/// The whole of stdin, less one trailing newline (`echo pass | compose login ...`).
fn password_from_stdin() -> io::Result<String> {
    let mut text = String::new();
    io::stdin().read_to_string(&mut text)?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
}

/// One line from the terminal on stdin; the password without echo.
fn prompt(label: &str, echo: bool) -> io::Result<String> {
    eprint!("{label}");
    let saved = (!echo).then(echo_off).flatten();
    let mut line = String::new();
    let read = io::stdin().read_line(&mut line);
    if let Some(saved) = saved {
        // SAFETY: restores the attributes tcgetattr filled in for the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Turns the terminal's echo off; the attributes to restore, or None when stdin is no terminal.
fn echo_off() -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it in or fails, and then it is not used.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
        return None;
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: a valid termios for a descriptor tcgetattr just accepted.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
    Some(saved)
}
