//! The `tulip` command: readable errors, precompiled guests, denial logs and exit
//! statuses.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::guest_path;

fn tulip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tulip"))
        .args(args)
        .output()
        .expect("run tulip")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A scratch directory for this test process.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tulip-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Test guest `name` precompiled by `tulip compile` (once per process).
fn cwasm(name: &'static str) -> String {
    static DONE: OnceLock<std::sync::Mutex<Vec<&'static str>>> = OnceLock::new();
    let out = scratch().join(format!("{name}.cwasm"));
    let mut done = DONE.get_or_init(Default::default).lock().unwrap();
    if !done.contains(&name) {
        let wasm = guest_path(name);
        let output = tulip(&[
            "compile",
            wasm.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(
            output.status.success(),
            "tulip compile: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("wrote"));
        done.push(name);
    }
    out.to_str().unwrap().to_owned()
}

#[test]
fn a_missing_file_is_named_in_the_error() {
    let output = tulip(&["run", "/no/such/guest.wasm"]);
    assert_eq!(output.status.code(), Some(125));
    let err = stderr(&output);
    assert!(err.contains("cannot read `/no/such/guest.wasm`"), "{err}");
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn a_core_module_is_refused_with_how_to_build_a_component() {
    // The smallest valid core module: the preamble alone.
    let module = scratch().join("core.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    for command in ["run", "compile"] {
        let output = tulip(&[command, module.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(125), "{command}");
        let err = stderr(&output);
        assert!(
            err.contains("is a WebAssembly core module, not a WASI 0.2 component"),
            "{err}"
        );
        assert!(err.contains("cargo build --target wasm32-wasip2"), "{err}");
    }
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let text = scratch().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let output = tulip(&["run", text.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("is not a WebAssembly component"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_bad_grant_is_explained() {
    let output = tulip(&["run", "x.wasm", "--connect", "example.com:80"]);
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
    assert!(
        stderr(&output).contains("is not an address or network"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_precompiled_guest_runs_with_its_arguments_and_exit_status() {
    let exit = cwasm("exit");
    let output = tulip(&["run", &exit, "--env", "K=V", "--", "7"]);
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(stdout(&output), "args [\"exit\", \"7\"]\nenv K=V\n");
}

#[test]
fn a_denied_operation_is_logged_with_the_flag_that_grants_it() {
    let probe = cwasm("probe");
    let output = tulip(&[
        "run",
        &probe,
        "--",
        "connect",
        "127.0.0.1:9",
        "lookup",
        "localhost",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("connect 127.0.0.1:9: access-denied"));
    let err = stderr(&output);
    assert!(
        err.contains("TCP connect to 127.0.0.1:9 denied; grant it with `--connect 127.0.0.1:9`"),
        "{err}"
    );
    assert!(err.contains("name lookup of `localhost` denied; grant it with `--name-lookup`"));
}

#[test]
fn limits_map_to_exit_statuses_and_name_their_flag() {
    let spin = cwasm("spin");
    let output = tulip(&["run", &spin, "--max-cpu", "1000000"]);
    assert_eq!(output.status.code(), Some(152));
    assert!(
        stderr(&output).contains("CPU limit of 1000000 fuel used up (raise it with --max-cpu)")
    );

    let output = tulip(&["run", &spin, "--deadline", "100ms"]);
    assert_eq!(output.status.code(), Some(124));
    assert!(
        stderr(&output).contains("(raise it with --deadline)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn capture_prints_the_output_after_the_guest_stops() {
    let exit = cwasm("exit");
    let output = tulip(&["run", &exit, "--capture", "--", "0"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "args [\"exit\", \"0\"]\n");
}

#[test]
fn help_explains_the_grants() {
    let output = tulip(&["run", "--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    for needle in [
        "can do nothing until granted",
        "--listen ADDR",
        "--connect ADDR|CIDR",
        "EXIT STATUS",
    ] {
        assert!(help.contains(needle), "missing {needle:?}");
    }
}
