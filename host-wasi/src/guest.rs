//! Loading guests and running them: [`Runtime`] → [`Guest`] → [`GuestBuilder`] →
//! [`Report`].
//!
//! A [`Runtime`] owns the wasmtime engine (fuel metering on) and the linker with every
//! WASI 0.2 interface. [`Runtime::compile`] or [`Runtime::load`] turns a component into
//! a [`Guest`]: compiled once, linked once
//! (`CommandPre`, wasmtime's `InstancePre` for `wasi:cli/command`), cheap to clone, and
//! instantiated per run with no compiling or import resolution left to do.
//!
//! Each run gets its own store, WASI context, memory limiter and fuel, on a
//! current-thread tokio runtime: [`GuestBuilder::run`] on the calling thread,
//! [`GuestBuilder::spawn`] on a thread of its own.
//!
//! # Implementation notes
//!
//! Guests run in wasmtime's async mode, so a run can be abandoned while the guest is
//! blocked in the host (in `wasi:io/poll`, say): that is how a deadline or a kill stops a
//! guest that is waiting. A guest that is computing yields to the executor every
//! [`YIELD_FUEL`] units of fuel (wasmtime's fuel yield interval), and a deadline or kill
//! that is due abandons it there.
//!
//! Fuel, not epoch interruption, paces those yields: in wasmtime 48 the epoch check
//! calls into the host without first saving the function's cached fuel counter, so a
//! guest stopped from an epoch callback in the middle of a loop reports only the fuel it
//! had used up to its last call. The fuel yield saves the counter first, so the fuel a
//! [`Report`] gives is exact however the guest stopped, and guest code carries no epoch
//! checks.

use std::future::{Future, poll_fn};
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{fmt, fs};

use tokio::sync::Notify;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Precompiled, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::capture::Capture;
use crate::error::{Error, describe};
use crate::grants::{Denial, Grants, Operation};
use crate::limits::{GuestLimiter, Limits};
use crate::policy::{DenialCallback, Policy};
use crate::report::{Budget, Outcome, Report, Stop, classify, stop_outcome};

/// How much fuel a computing guest may use between two yields to its executor: the
/// granularity of deadlines and kills for a guest that is not waiting in the host
/// (a few milliseconds of computation).
pub const YIELD_FUEL: u64 = 10_000_000;

/// The wasmtime engine and the WASI linker shared by every guest. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<GuestState>,
}

impl Runtime {
    /// Sets up the engine (Cranelift, fuel metering on) and a
    /// linker with the WASI 0.2 command world, name lookup guarded by the grants.
    ///
    /// # Errors
    ///
    /// [`Error::Engine`] if wasmtime rejects the configuration.
    pub fn new() -> Result<Self, Error> {
        let engine = Engine::new(&engine_config()).map_err(|e| Error::Engine(describe(&e)))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| crate::lookup::add_to_linker(&mut linker))
            .map_err(|e| Error::Engine(describe(&e)))?;
        Ok(Self {
            inner: Arc::new(RuntimeInner { engine, linker }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compiles a WASI 0.2 component (`.wasm` bytes) into a guest named `name`.
    ///
    /// # Errors
    ///
    /// [`Error::CoreModule`] for a core module, [`Error::NotWasm`] for anything else that
    /// is not a component, [`Error::Compile`] if it does not validate, and
    /// [`Error::NotCommand`] if it is not a `wasi:cli/command` or imports something other
    /// than WASI 0.2.
    pub fn compile(&self, name: &str, wasm: &[u8]) -> Result<Guest, Error> {
        let what = format!("guest `{name}`");
        let component = self.compile_component(&what, wasm)?;
        self.link(name, &what, component)
    }

    /// Loads a `.wasm` component from `path` and compiles it; the guest is named after
    /// the file.
    ///
    /// # Errors
    ///
    /// [`Error::Read`] if the file cannot be read, [`Error::Precompiled`] if it is a
    /// precompiled `.cwasm` (load those with [`Runtime::load_precompiled`]), and the
    /// errors of [`Runtime::compile`].
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Guest, Error> {
        let path = path.as_ref();
        let bytes = read(path)?;
        let what = format!("`{}`", path.display());
        if Engine::detect_precompiled(&bytes).is_some() {
            return Err(Error::Precompiled { what });
        }
        let component = self.compile_component(&what, &bytes)?;
        self.link(&guest_name(path), &what, component)
    }

    /// Loads a guest precompiled by [`Guest::precompiled`] or `tulip compile` (a
    /// `.cwasm` file), skipping compilation.
    ///
    /// # Errors
    ///
    /// [`Error::Read`], [`Error::CoreModule`] for a precompiled core module,
    /// [`Error::NotWasm`] if the file is not precompiled, [`Error::Incompatible`] if another
    /// wasmtime version or configuration made it, and [`Error::NotCommand`].
    ///
    /// # Safety
    ///
    /// A `.cwasm` file is native machine code that wasmtime maps and runs without
    /// validating it: only its header, wasmtime version and engine settings are checked.
    /// The caller must trust the file as it would an executable, that is, it must have
    /// been produced by [`Guest::precompiled`] or `tulip compile` and not altered since.
    #[allow(
        unsafe_code,
        reason = "deserializing precompiled code is wasmtime's unsafe API"
    )]
    pub unsafe fn load_precompiled(&self, path: impl AsRef<Path>) -> Result<Guest, Error> {
        let path = path.as_ref();
        let what = format!("`{}`", path.display());
        let bytes = read(path)?;
        match Engine::detect_precompiled(&bytes) {
            Some(Precompiled::Component) => {}
            Some(Precompiled::Module) => return Err(Error::CoreModule { what }),
            None => return Err(Error::NotWasm { what }),
        }
        // SAFETY: the caller vouches that the file came from `tulip compile` (see
        // `# Safety`); wasmtime checks its version and engine settings.
        let component =
            unsafe { Component::deserialize(&self.inner.engine, &bytes) }.map_err(|e| {
                Error::Incompatible {
                    what: what.clone(),
                    reason: describe(&e),
                }
            })?;
        self.link(&guest_name(path), &what, component)
    }

    /// Compiles a component to the precompiled form `tulip compile` writes, without
    /// linking it.
    ///
    /// # Errors
    ///
    /// The compile errors of [`Runtime::compile`].
    pub fn precompile(&self, name: &str, wasm: &[u8]) -> Result<Vec<u8>, Error> {
        let what = format!("guest `{name}`");
        check_component(&what, wasm)?;
        self.inner
            .engine
            .precompile_component(wasm)
            .map_err(|e| Error::Compile {
                what,
                reason: describe(&e),
            })
    }

    fn compile_component(&self, what: &str, wasm: &[u8]) -> Result<Component, Error> {
        check_component(what, wasm)?;
        Component::from_binary(&self.inner.engine, wasm).map_err(|e| Error::Compile {
            what: what.to_owned(),
            reason: describe(&e),
        })
    }

    fn link(&self, name: &str, what: &str, component: Component) -> Result<Guest, Error> {
        let not_command = |e: wasmtime::Error| Error::NotCommand {
            what: what.to_owned(),
            reason: describe(&e),
        };
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(not_command)?;
        let pre = CommandPre::new(instance_pre).map_err(not_command)?;
        Ok(Guest {
            inner: Arc::new(GuestInner {
                runtime: self.clone(),
                name: name.into(),
                component,
                pre,
            }),
        })
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    config
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn guest_name(path: &Path) -> String {
    path.file_stem()
        .map_or_else(|| "guest".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// Tells a component from a core module or something that is not WebAssembly by the
/// 8-byte preamble, so the error says what to do instead of wasmtime's parse error.
fn check_component(what: &str, bytes: &[u8]) -> Result<(), Error> {
    /// `\0asm`, then version 1 (a core module).
    const CORE_MODULE: [u8; 8] = *b"\0asm\x01\0\0\0";
    /// `\0asm`, then version 0xd, layer 1 (a component).
    const COMPONENT: [u8; 8] = *b"\0asm\x0d\0\x01\0";
    match bytes.get(..8) {
        Some(head) if head == COMPONENT => Ok(()),
        Some(head) if head == CORE_MODULE => Err(Error::CoreModule {
            what: what.to_owned(),
        }),
        _ => Err(Error::NotWasm {
            what: what.to_owned(),
        }),
    }
}

/// A compiled and linked guest program, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct Guest {
    inner: Arc<GuestInner>,
}

struct GuestInner {
    runtime: Runtime,
    name: Arc<str>,
    component: Component,
    pre: CommandPre<GuestState>,
}

impl Guest {
    /// The guest's name (from its file name, or as given to [`Runtime::compile`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A builder for one run of this guest, with nothing granted and default limits.
    pub fn builder(&self) -> GuestBuilder {
        GuestBuilder::new(self)
    }

    /// The precompiled form of this guest, as `tulip compile` writes it, for
    /// [`Runtime::load_precompiled`].
    ///
    /// # Errors
    ///
    /// [`Error::Compile`] if wasmtime cannot serialize it.
    pub fn precompiled(&self) -> Result<Vec<u8>, Error> {
        self.inner
            .component
            .serialize()
            .map_err(|e| Error::Compile {
                what: format!("guest `{}`", self.name()),
                reason: describe(&e),
            })
    }

    /// The names of the interfaces the guest imports, e.g. `wasi:sockets/tcp@0.2.12`.
    pub fn imports(&self) -> Vec<String> {
        let engine = self.inner.runtime.engine();
        let ty = self.inner.component.component_type();
        ty.imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

impl fmt::Debug for Guest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guest")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// Where a guest's stdout or stderr goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stdio {
    /// Kept in memory (up to [`Limits::output`] bytes), readable while the guest runs and
    /// returned in its [`Report`].
    #[default]
    Capture,
    /// Written to the host's own stdout or stderr.
    Inherit,
    /// Thrown away.
    Discard,
}

/// One run of a [`Guest`]: its grants, limits, arguments, environment and stdio.
///
/// Defaults (from [`GuestBuilder::new`]): named after the guest, nothing granted
/// ([`Grants::new`]), [`Limits::new`], no arguments besides the name as `argv[0]`, an
/// empty environment (the host's is not inherited), stdout and stderr captured, stdin
/// empty, no filesystem at all.
#[must_use = "a builder does nothing until run or spawned"]
pub struct GuestBuilder {
    guest: Guest,
    name: String,
    grants: Grants,
    limits: Limits,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdout: Stdio,
    stderr: Stdio,
    inherit_stdin: bool,
    on_denial: Option<DenialCallback>,
}

impl GuestBuilder {
    /// A run of `guest` with the defaults listed on [`GuestBuilder`].
    pub fn new(guest: &Guest) -> Self {
        Self {
            guest: guest.clone(),
            name: guest.name().to_owned(),
            grants: Grants::new(),
            limits: Limits::new(),
            args: Vec::new(),
            env: Vec::new(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            inherit_stdin: false,
            on_denial: None,
        }
    }

    /// Names this run (in logs and its report; also the guest's `argv[0]`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets what the guest may reach on the network.
    pub fn grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Sets the guest's resource limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Appends one argument (after `argv[0]`, the run's name).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Passes the host's whole environment to the guest (off by default).
    pub fn inherit_env(mut self) -> Self {
        self.env.extend(std::env::vars());
        self
    }

    /// Where the guest's stdout goes.
    pub fn stdout(mut self, stdio: Stdio) -> Self {
        self.stdout = stdio;
        self
    }

    /// Where the guest's stderr goes.
    pub fn stderr(mut self, stdio: Stdio) -> Self {
        self.stderr = stdio;
        self
    }

    /// Gives the guest the host's stdin (empty by default).
    pub fn inherit_stdin(mut self, inherit: bool) -> Self {
        self.inherit_stdin = inherit;
        self
    }

    /// Calls `callback` with the run's name and every denied operation, on the guest's
    /// thread, besides logging it. Keep it quick: the guest waits for it.
    pub fn on_denial(mut self, callback: impl Fn(&str, &Denial) + Send + Sync + 'static) -> Self {
        self.on_denial = Some(Arc::new(callback));
        self
    }

    /// Runs the guest on this thread until it stops, and reports how it went.
    pub fn run(self) -> Report {
        self.launch(Arc::new(Control::default())).run()
    }

    /// Starts the guest on a thread of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Spawn`] if the thread cannot be started.
    pub fn spawn(self) -> Result<RunningGuest, Error> {
        self.spawn_then(|| {})
    }

    /// Starts the guest on its own thread and calls `finished` on that thread once its
    /// report is ready.
    pub(crate) fn spawn_then(
        self,
        finished: impl FnOnce() + Send + 'static,
    ) -> Result<RunningGuest, Error> {
        let control = Arc::new(Control::default());
        let launch = self.launch(control.clone());
        let name = launch.name.clone();
        let (stdout, stderr) = (launch.stdout.clone(), launch.stderr.clone());
        let thread = thread::Builder::new()
            .name(format!("guest {name}"))
            .spawn(move || {
                let report = launch.run();
                finished();
                report
            })
            .map_err(|source| Error::Spawn {
                name: name.to_string(),
                source,
            })?;
        Ok(RunningGuest {
            name,
            control,
            stdout,
            stderr,
            thread,
        })
    }

    fn launch(self, control: Arc<Control>) -> Launch {
        let capture = |stdio| (stdio == Stdio::Capture).then(|| Capture::new(self.limits.output()));
        Launch {
            stdout: capture(self.stdout),
            stderr: capture(self.stderr),
            name: self.name.into(),
            control,
            guest: self.guest,
            grants: self.grants,
            limits: self.limits,
            args: self.args,
            env: self.env,
            inherit_stdout: self.stdout == Stdio::Inherit,
            inherit_stderr: self.stderr == Stdio::Inherit,
            inherit_stdin: self.inherit_stdin,
            on_denial: self.on_denial,
        }
    }
}

impl fmt::Debug for GuestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuestBuilder")
            .field("guest", &self.guest.name())
            .field("name", &self.name)
            .field("grants", &self.grants)
            .field("limits", &self.limits)
            .field("args", &self.args)
            .field("env", &self.env)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("inherit_stdin", &self.inherit_stdin)
            .finish_non_exhaustive()
    }
}

/// A guest running on its own thread.
pub struct RunningGuest {
    name: Arc<str>,
    control: Arc<Control>,
    stdout: Option<Capture>,
    stderr: Option<Capture>,
    thread: JoinHandle<Report>,
}

impl RunningGuest {
    /// The run's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks the guest to stop; it is reported as [`Outcome::Killed`]. Takes effect at
    /// once if the guest is waiting in the host, within [`YIELD_FUEL`] of fuel if it is
    /// computing.
    pub fn kill(&self) {
        self.control.kill();
    }

    /// What the guest has written to its captured stdout so far (empty if not captured).
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout
            .as_ref()
            .map(Capture::contents)
            .unwrap_or_default()
    }

    /// What the guest has written to its captured stderr so far (empty if not captured).
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr
            .as_ref()
            .map(Capture::contents)
            .unwrap_or_default()
    }

    /// Whether the guest has stopped.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the guest to stop and returns its report.
    pub fn join(self) -> Report {
        let name = self.name.to_string();
        self.thread
            .join()
            .unwrap_or_else(|panic| Report::failed(name, panic_message(&*panic)))
    }
}

impl fmt::Debug for RunningGuest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningGuest")
            .field("name", &self.name)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic");
    format!("the host panicked while running the guest: {text}")
}

/// The kill switch shared by a running guest and its handle.
#[derive(Default)]
struct Control {
    killed: AtomicBool,
    wake: Notify,
}

impl Control {
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        // Stores a permit if the run is not waiting yet.
        self.wake.notify_one();
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// The per-run store data wasmtime-wasi and the limiter see.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: GuestLimiter,
    policy: Arc<Policy>,
}

impl GuestState {
    pub(crate) fn sockets_and_policy(&mut self) -> (WasiSocketsCtxView<'_>, &Policy) {
        let sockets = WasiSocketsCtxView {
            ctx: self.wasi.sockets(),
            table: &mut self.table,
        };
        (sockets, &self.policy)
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Everything one run needs, moved onto the thread that runs it.
struct Launch {
    name: Arc<str>,
    control: Arc<Control>,
    guest: Guest,
    grants: Grants,
    limits: Limits,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdout: Option<Capture>,
    stderr: Option<Capture>,
    inherit_stdout: bool,
    inherit_stderr: bool,
    inherit_stdin: bool,
    on_denial: Option<DenialCallback>,
}

/// How the race between the guest, a kill and the deadline ended.
enum Finish {
    Ran(wasmtime::Result<Result<(), ()>>),
    Stopped(Stop),
}

impl Launch {
    fn run(self) -> Report {
        let began = Instant::now();
        let name = self.name.to_string();
        let executor = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let executor = match executor {
            Ok(executor) => executor,
            Err(e) => return Report::failed(name, format!("cannot start an executor: {e}")),
        };
        let run = self.run_async(began);
        // A host bug must not take the process down with the guest; the state a panic
        // leaves behind is this run's alone and is dropped with it.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || executor.block_on(run)))
            .unwrap_or_else(|panic| Report::failed(name, panic_message(&*panic)))
    }

    async fn run_async(mut self, began: Instant) -> Report {
        let deadline = self.limits.deadline().map(|after| began + after);
        let grants = std::mem::take(&mut self.grants);
        let policy = Arc::new(Policy::new(
            self.name.clone(),
            grants,
            self.on_denial.take(),
        ));
        let wasi = self.wasi_ctx(&policy);
        let mut table = ResourceTable::new();
        table.set_max_capacity(self.limits.handles());
        let state = GuestState {
            wasi,
            table,
            limiter: GuestLimiter::new(self.limits.memory()),
            policy: policy.clone(),
        };
        let engine = self.guest.inner.runtime.engine();
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        let fuel = self.limits.fuel().unwrap_or(u64::MAX);
        if let Err(e) = store.set_fuel(fuel) {
            return Report::failed(self.name.to_string(), describe(&e));
        }
        if let Err(e) = store.fuel_async_yield_interval(Some(YIELD_FUEL)) {
            return Report::failed(self.name.to_string(), describe(&e));
        }

        let mut start_time = Duration::ZERO;
        let finish = {
            let pre = &self.guest.inner.pre;
            let run = async {
                let command = pre.instantiate_async(&mut store).await?;
                start_time = began.elapsed();
                command.wasi_cli_run().call_run(&mut store).await
            };
            race(run, &self.control, deadline).await
        };

        let budget = Budget {
            fuel,
            memory: self.limits.memory(),
            handles: self.limits.handles(),
            deadline: self.limits.deadline(),
        };
        let limiter = &store.data().limiter;
        let outcome = match finish {
            Finish::Ran(Ok(Ok(()))) => Outcome::Exited(0),
            Finish::Ran(Ok(Err(()))) => Outcome::Exited(1),
            Finish::Ran(Err(error)) => classify(&error, limiter.refused(), &budget),
            Finish::Stopped(stop) => stop_outcome(stop, &budget),
        };
        let peak_memory = limiter.peak();
        let fuel_consumed = fuel - store.get_fuel().unwrap_or(fuel);
        // Close the guest's sockets and streams while the executor still runs.
        drop(store);
        let run_time = began.elapsed();

        let (stdout, out_dropped) = self.stdout.map(|c| c.take()).unwrap_or_default();
        let (stderr, err_dropped) = self.stderr.map(|c| c.take()).unwrap_or_default();
        let (denials, denied) = policy.denials();
        let report = Report {
            name: self.name.to_string(),
            outcome,
            fuel_consumed,
            peak_memory,
            start_time,
            run_time,
            stdout,
            stderr,
            output_dropped: out_dropped + err_dropped,
            denials,
            denied,
        };
        tracing::info!(target: "tulip", "{report}");
        report
    }

    fn wasi_ctx(&self, policy: &Arc<Policy>) -> WasiCtx {
        let mut wasi = WasiCtxBuilder::new();
        wasi.arg(&*self.name).args(&self.args).envs(&self.env);
        // Sockets may always be created; every address they use is checked below, so a
        // denial names its address. Name lookup is guarded in `lookup.rs` as well.
        wasi.allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(policy.grants().name_lookup());
        let check = policy.clone();
        wasi.socket_addr_check(move |addr, usage| {
            let allowed = check.check_addr(addr, Operation::from_socket_addr_use(usage));
            Box::pin(std::future::ready(allowed))
        });
        match (&self.stdout, self.inherit_stdout) {
            (Some(capture), _) => wasi.stdout(capture.clone()),
            (None, true) => wasi.inherit_stdout(),
            (None, false) => &mut wasi,
        };
        match (&self.stderr, self.inherit_stderr) {
            (Some(capture), _) => wasi.stderr(capture.clone()),
            (None, true) => wasi.inherit_stderr(),
            (None, false) => &mut wasi,
        };
        if self.inherit_stdin {
            wasi.inherit_stdin();
        }
        wasi.build()
    }
}

/// Runs `run` until it finishes, the guest is killed, or the deadline passes; an
/// abandoned run is dropped, which unwinds the guest wherever it was waiting.
async fn race(
    run: impl Future<Output = wasmtime::Result<Result<(), ()>>>,
    control: &Control,
    deadline: Option<Instant>,
) -> Finish {
    let mut run = pin!(run);
    let mut killed = pin!(control.wake.notified());
    let mut expired = pin!(async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    });
    poll_fn(|cx| {
        if let Poll::Ready(result) = run.as_mut().poll(cx) {
            return Poll::Ready(Finish::Ran(result));
        }
        if control.is_killed() || killed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Finish::Stopped(Stop::Killed));
        }
        if expired.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Finish::Stopped(Stop::Deadline));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_components_from_core_modules_and_other_files() {
        assert!(check_component("c", b"\0asm\x0d\0\x01\0rest").is_ok());
        assert!(matches!(
            check_component("m", b"\0asm\x01\0\0\0"),
            Err(Error::CoreModule { .. })
        ));
        assert!(matches!(
            check_component("t", b"hello world"),
            Err(Error::NotWasm { .. })
        ));
        assert!(matches!(
            check_component("s", b"\0asm"),
            Err(Error::NotWasm { .. })
        ));
    }

    #[test]
    fn builder_starts_from_the_documented_defaults() {
        let runtime = Runtime::new().unwrap();
        // The smallest component: the preamble alone. It links but is no command.
        let err = runtime.compile("empty", b"\0asm\x0d\0\x01\0").unwrap_err();
        assert!(matches!(err, Error::NotCommand { .. }), "{err}");
        assert!(err.to_string().contains("cannot run as a WASI 0.2 command"));
    }
}
