//! A failed command: the message printed on stderr and the exit status, rabbitmqctl's
//! sysexits codes (64 usage, 65 bad data, 67 no such user, 69 node unavailable, 70 other).

/// Command line misuse (and, as in rabbitmqctl, a few "not found" answers).
pub const EX_USAGE: u8 = 64;
/// Input that is not what the command takes: a definitions file that is not JSON.
pub const EX_DATAERR: u8 = 65;
/// The user named does not exist.
pub const EX_NOUSER: u8 = 67;
/// The node cannot be reached, refused the credentials, or a check failed.
pub const EX_UNAVAILABLE: u8 = 69;
/// Any other error the node answered with.
pub const EX_SOFTWARE: u8 = 70;

/// A command's failure.
#[derive(Debug)]
pub struct CtlError {
    pub code: u8,
    pub message: String,
}

pub type CtlResult<T> = Result<T, CtlError>;

impl CtlError {
    pub fn new(code: u8, message: impl Into<String>) -> CtlError {
        CtlError {
            code,
            message: message.into(),
        }
    }

    /// An error rabbitmqctl reports as `Error:` and the reason on the next line.
    pub fn reason(code: u8, reason: impl std::fmt::Display) -> CtlError {
        CtlError::new(code, format!("Error:\n{reason}"))
    }

    /// Prints the message on stderr; returns the exit status.
    pub fn report(&self) -> u8 {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        self.code
    }
}
