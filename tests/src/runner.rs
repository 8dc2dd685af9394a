//! What every backend's runner does around a scenario: run it, let the loop settle, and
//! check that it left nothing running.

use crate::context::{Backend, Cx};
use crate::diff;
use crate::report::ScenarioResult;
use crate::trace::TraceLog;
use crate::{Need, run_scenario, scenario, sim};

/// Loop iterations run after a scenario returns, so that callbacks it scheduled last (a
/// transport's `connection_lost` after `close`) run.
pub const SETTLE_ITERATIONS: usize = 4;

/// Let the loop settle after a scenario, then check that no task is left pending.
///
/// # Errors
///
/// The loop failed, or tasks are still pending (a scenario must await or cancel every
/// task it starts).
pub fn finish<N: Backend>(cx: &Cx<N>) -> Result<(), String> {
    let lp = cx.lp();
    if lp.is_closed() {
        // The scenario closed the loop itself: nothing can be pending.
        return Ok(());
    }
    for _ in 0..SETTLE_ITERATIONS {
        // `stop` before `run_forever` runs exactly one iteration.
        lp.stop();
        lp.run_forever()
            .map_err(|e| format!("the loop failed while settling: {e}"))?;
    }
    let pending = lp.all_tasks();
    if !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|t| t.name()).collect();
        return Err(format!(
            "{} task(s) still pending after the scenario: {}",
            pending.len(),
            names.join(", ")
        ));
    }
    Ok(())
}

/// Run scenario `name` on `cx`'s backend, settle, and return its trace.
///
/// # Errors
///
/// A description naming the scenario and the backend when there is no such scenario,
/// it needs what this backend lacks, it fails, or it leaves tasks pending.
pub fn run_on<N: Backend>(name: &str, cx: &Cx<N>) -> Result<TraceLog, String> {
    let backend = &cx.env().backend;
    if let Some(need) = scenario(name).and_then(|s| s.unmet_need()) {
        return Err(format!(
            "scenario `{name}` needs {need:?}, which {backend} lacks"
        ));
    }
    let outcome = run_scenario(name, cx).ok_or_else(|| format!("no scenario named `{name}`"))?;
    if let Err(e) = outcome {
        return Err(format!(
            "scenario `{name}` failed on {backend}: {e}\ntrace so far:\n{}",
            cx.trace().log()
        ));
    }
    finish(cx).map_err(|e| format!("scenario `{name}` on {backend}: {e}"))?;
    Ok(cx.trace().log())
}

/// Compare `trace`, scenario `name`'s trace on `backend`, with the simulation's
/// fault-free trace of the same scenario.
///
/// # Errors
///
/// The simulation run failed, or the traces differ (the message names the scenario,
/// both backends and the first difference).
pub fn compare_with_sim(name: &str, backend: &str, trace: &TraceLog) -> Result<(), String> {
    let reference = sim::run(name, sim::IDEAL_SEED, sim::ideal_config())?.trace;
    diff::compare(name, ("sim", &reference), (backend, trace)).map_err(|d| d.to_string())
}

/// Run scenario `name` on `cx`'s backend for a report: unsupported when the backend
/// lacks one of its [`Need`]s, else its trace or its failure.
pub fn run_reported<N: Backend>(name: &str, cx: &Cx<N>) -> ScenarioResult {
    if let Some(need) = scenario(name).and_then(|s| s.unmet_need()) {
        return ScenarioResult::Unsupported(need);
    }
    match run_on(name, cx) {
        Ok(trace) => ScenarioResult::Trace(trace),
        Err(e) => ScenarioResult::Failed(e),
    }
}

/// Check what `backend` reported for scenario `name`: a trace must equal the
/// simulation's; "unsupported" is accepted only for a need the scenario declares
/// (returned, to be listed as a declared difference).
///
/// # Errors
///
/// The scenario failed there, differs from the simulation, or was skipped for a need
/// it does not declare.
pub fn check_reported(
    name: &str,
    backend: &str,
    result: &ScenarioResult,
) -> Result<Option<Need>, String> {
    match result {
        ScenarioResult::Trace(trace) => compare_with_sim(name, backend, trace).map(|()| None),
        ScenarioResult::Failed(e) => Err(e.clone()),
        ScenarioResult::Unsupported(need) => {
            let declared = scenario(name).is_some_and(|s| s.needs.contains(need));
            if declared {
                Ok(Some(*need))
            } else {
                Err(format!(
                    "scenario `{name}` was skipped on {backend} for lacking {need:?}, which it \
                     does not declare"
                ))
            }
        }
    }
}
