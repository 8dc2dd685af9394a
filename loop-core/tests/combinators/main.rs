//! Combinator tests (sleep, gather, wait, wait_for, as_completed, shield), written from
//! asyncio's task-function documentation and CPython's behaviour where it is silent. All
//! timing runs on the simulation host's virtual clock.

mod as_completed;
mod close;
mod gather;
mod shield;
mod sleep;
mod util;
mod wait;
mod wait_for;
