//! Writes the generated SystemVerilog include to `hw-rtl/rtl/snich_abi.svh` (or to the path
//! given as the first argument, `-` for standard output).
//!
//! ```sh
//! cargo run -p nic-abi --example gen_verilog
//! ```

use std::io::Write as _;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let svh = nic_abi::verilog::generate_include();
    let target = std::env::args_os().nth(1);
    if target.as_deref() == Some(std::ffi::OsStr::new("-")) {
        return std::io::stdout().write_all(svh.as_bytes());
    }
    let path = target.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(nic_abi::verilog::INCLUDE_PATH)
    });
    std::fs::write(&path, svh)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
