//! One terminal shared by the engine, the shop and the game day: every line
//! carries its source in the same column as `shop up` prints it
//! (`{name:>14} | ...`). Write errors are ignored: a closed pipe (`| head`)
//! must not take the demo down.

use std::io::{self, Write};

pub fn say(source: &str, message: &str) {
    let _ = writeln!(io::stdout().lock(), "{source:>14} | {message}");
}

pub fn raw(line: &str) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

/// A `tracing` writer that prefixes each line of the engine's own logs.
pub struct Prefixed(pub &'static str);

impl Write for Prefixed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole event per call.
        let mut out = io::stdout().lock();
        for line in buf.split_inclusive(|b| *b == b'\n') {
            write!(out, "{:>14} | ", self.0)?;
            out.write_all(line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}
