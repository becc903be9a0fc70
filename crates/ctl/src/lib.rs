//! warren-ctl: `warren ctl`, and the same commands when the binary runs as `rabbitmqctl` or
//! `rabbitmq-diagnostics`. Every command is a few requests to the management HTTP API
//! (crates/mgmt, or RabbitMQ's own plugin: the commands use only RabbitMQ's API, plus one
//! Warren extension for the memory watermark), printed as rabbitmqctl 3.10 prints it: banner
//! lines, tab-separated tables with a header row, `--formatter json`, and its exit codes.
//!
//! Rooms: `cli` (the command line, clap), `target` (which node and credentials: flags,
//! environment, the broker's own settings), `http` (the client, ureq), `output` (banners,
//! tables, JSON), `error` (messages and exit codes), and `commands`, one module per family.

mod cli;
mod commands;
mod error;
mod http;
mod output;
mod target;

pub use error::{EX_DATAERR, EX_NOUSER, EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE};

use clap::Parser;
use std::ffi::OsString;

/// The name the CLI runs under: its usage text and banners say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `warren ctl ...`
    WarrenCtl,
    /// The binary invoked through a `rabbitmqctl` link.
    RabbitmqCtl,
    /// The binary invoked through a `rabbitmq-diagnostics` link.
    RabbitmqDiagnostics,
}

impl Tool {
    /// The tool a program name (argv[0], any directory) stands for, if it is one of the
    /// RabbitMQ names.
    pub fn from_program_name(argv0: &std::path::Path) -> Option<Tool> {
        match argv0.file_name()?.to_str()? {
            "rabbitmqctl" => Some(Tool::RabbitmqCtl),
            "rabbitmq-diagnostics" => Some(Tool::RabbitmqDiagnostics),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tool::WarrenCtl => "warren ctl",
            Tool::RabbitmqCtl => "rabbitmqctl",
            Tool::RabbitmqDiagnostics => "rabbitmq-diagnostics",
        }
    }
}

/// Runs one command line (`args` without the program name and without `ctl`) and returns
/// the process's exit status.
pub fn run(tool: Tool, args: Vec<OsString>) -> u8 {
    let argv = std::iter::once(OsString::from(tool.name())).chain(args);
    let parsed = match cli::Cli::try_parse_from(argv) {
        Ok(p) => p,
        Err(e) => return usage_error(e),
    };
    let mut out = output::Out::new(&parsed.global);
    let result = target::Target::resolve(&parsed.global)
        .and_then(|t| commands::run(&parsed.command, &parsed.global, &t, &mut out));
    match result {
        Ok(()) => 0,
        Err(e) => e.report(),
    }
}

/// clap's error or help: help and version are success; anything else is rabbitmqctl's
/// argument validation failure, 64.
fn usage_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        _ => EX_USAGE,
    }
}
