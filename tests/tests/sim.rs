//! Every scenario on the simulated network: the fault-free run must match the golden
//! trace, and each of 100 seeds with injected faults must reproduce its own run and
//! match the fault-free trace (no bytes lost or reordered).

macro_rules! sim_tests {
    ($($area:ident :: $name:ident => $faults:ident,)*) => {
        $(
            #[test]
            fn $name() {
                let scenario = conformance::scenario(stringify!($name)).expect("registered");
                let reference = conformance::sim::check_golden(scenario.name)
                    .unwrap_or_else(|e| panic!("{e}"));
                conformance::sim::sweep(scenario, &reference, 1..1 + conformance::sim::SEEDS)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        )*
    };
}

conformance::foreach_scenario!(sim_tests);
