//! Rebuilds the crate when the web UI's compiled files change: rust-embed reads `ui/dist/` at
//! compile time, and a new Vite build adds files with new names that cargo would not notice.

fn main() {
    println!("cargo:rerun-if-changed=ui/dist");
}
