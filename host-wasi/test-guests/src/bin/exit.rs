//! Prints its arguments and the environment it sees, then exits with the status given
//! as its first argument (default 0) through `wasi:cli/exit.exit-with-code`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("args {args:?}");
    for (k, v) in std::env::vars() {
        println!("env {k}={v}");
    }
    let code: u8 = args.get(1).map_or(0, |s| s.parse().expect("exit status"));
    wasip2::cli::exit::exit_with_code(code);
}
