//! The promqltest corpus over head + three on-disk blocks: the runner of `promqltest.rs`, which switches
//! to blocks when its crate is this one (see its docs).

#[path = "promqltest.rs"]
mod runner;

fn main() {
    runner::main();
}
