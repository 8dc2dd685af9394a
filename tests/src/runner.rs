//! What every backend's runner does around a scenario: run it, let the loop settle, and
//! check that it left nothing running.

use crate::context::{Backend, Cx};
use crate::run_scenario;
use crate::trace::TraceLog;

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
/// it fails, or it leaves tasks pending.
pub fn run_on<N: Backend>(name: &str, cx: &Cx<N>) -> Result<TraceLog, String> {
    let backend = &cx.env().backend;
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
