//! Tests that run the real `warren` binary as a separate process, to kill it (SIGKILL) or stop
//! it (SIGTERM) the way an operator or a crash would, or to configure it the way an operator
//! does. One test binary, a module per story.

mod ctl;
mod https;
mod kill9;
mod logs;
mod management;
mod settings;
mod sigterm;
