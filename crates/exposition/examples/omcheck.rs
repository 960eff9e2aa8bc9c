//! Prints the validator's verdict for each file given on the command line (a debugging aid).
fn main() {
    for path in std::env::args().skip(1) {
        let input = std::fs::read(&path).expect("readable file");
        match diamond_exposition::validate_openmetrics(&input) {
            Ok(()) => println!("{path}: ok"),
            Err(e) => println!("{path}: {e}"),
        }
    }
}
