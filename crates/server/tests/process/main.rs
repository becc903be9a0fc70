//! Tests that run the real `warren` binary as a separate process, to kill it (SIGKILL) or stop
//! it (SIGTERM) the way an operator or a crash would. One test binary, a module per story.

mod kill9;
mod sigterm;
