//! Printing from any thread: whole lines, Python's float format, a quiet exit on a closed
//! pipe.

use std::fmt;
use std::io::{self, Write};

/// Writes one line to standard output. Lines from different threads never interleave.
///
/// A closed pipe (`followup | head -3`) ends the process at once with status 0, as ripgrep
/// does; any other write error ends it with status 1.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("followup: error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `say!("...", args)`: [`line`] with `format!` syntax.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Formats `v` as Python's `repr(float)` does, so the demo's lines read like the tutorial's:
/// the shortest digits that round-trip, `.0` on whole numbers, and the exponent form
/// (`1.5e-05`, `1e+16`) below 1e-4 and from 1e16 on.
pub fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest round-trip mantissa and the decimal exponent.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if v != 0.0 && !(-4..16).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.unsigned_abs());
    }
    let plain = format!("{v}");
    if plain.contains('.') {
        plain
    } else {
        plain + ".0"
    }
}

#[cfg(test)]
mod tests {
    use super::py_float;

    #[test]
    fn floats_print_like_python_repr() {
        for (v, want) in [
            (0.029_683_378_111_512_56, "0.02968337811151256"),
            (0.5, "0.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (0.000_015, "1.5e-05"),
            (1e-100, "1e-100"),
            (1e16, "1e+16"),
            (123_456_789_012_345.6, "123456789012345.6"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(py_float(v), want, "{v:e}");
        }
    }
}
