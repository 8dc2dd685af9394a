//! Every scenario on the native host (`host_native::NativeLoop` over 127.0.0.1), its trace
//! compared with the simulation's fault-free trace.
#![cfg(unix)]

use conformance::{Cx, Env, runner};
use host_native::NativeLoop;

/// Run scenario `name` on a new native loop and compare it with the simulation.
fn check(name: &str) {
    let lp = NativeLoop::new().unwrap_or_else(|e| panic!("a native loop: {e}"));
    let cx = Cx::new(lp.clone(), Env::loopback_v4("native"));
    let trace = runner::run_on(name, &cx).unwrap_or_else(|e| panic!("{e}"));
    lp.close()
        .unwrap_or_else(|e| panic!("closing the native loop after `{name}`: {e}"));
    runner::compare_with_sim(name, "native", &trace).unwrap_or_else(|e| panic!("{e}"));
}

macro_rules! native_tests {
    ($($area:ident :: $name:ident => $faults:ident $([$($need:ident),*])?,)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*
    };
}

conformance::foreach_scenario!(native_tests);
