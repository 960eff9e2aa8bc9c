//! Prints every entry (or the error) a parser yields for a file (a debugging aid): `omdump om|text FILE`.
use diamond_exposition::{Entry, Format, Parser};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let format = if args.get(1).map(String::as_str) == Some("text") {
        Format::PromText
    } else {
        Format::OpenMetrics
    };
    let input = std::fs::read(args.get(2).expect("usage: omdump om|text FILE")).expect("readable file");
    let mut p = Parser::new(&input, format);
    while let Some(e) = p.next() {
        match e {
            Ok(Entry::Sample(s)) => println!(
                "{}: sample {} = {} ts={:?} ex={:?}",
                p.entry_line(),
                s.labels(),
                s.value(),
                s.timestamp_ms(),
                s.exemplar()
            ),
            Ok(other) => println!("{}: {other:?}", p.entry_line()),
            Err(e) => println!("error: {e}"),
        }
    }
}
