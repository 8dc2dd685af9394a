//! A server under test: a child process listening on a loopback port.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::procfs;
use crate::spec::Launch;

/// How long a server may take from spawn to accepting connections.
pub(crate) const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// The most of a server's standard error kept for error messages.
const STDERR_KEPT: usize = 16 * 1024;

/// A free TCP port on 127.0.0.1 (bound once by the OS's choice, then released).
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("find a free port", e))?
        .port();
    Ok(port)
}

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl ServerProcess {
    /// Starts `launch` on a free loopback port and waits until the port accepts a
    /// connection.
    ///
    /// The program is started directly, not through a shell, so that `/proc/<pid>` is
    /// the server itself. Its standard output is discarded; its standard error is kept
    /// for error messages.
    pub fn start(launch: &Launch) -> Result<ServerProcess> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let args = launch.args_for_port(port);
        let mut child = Command::new(&launch.program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Server {
                name: launch.name.clone(),
                message: format!("cannot start {}: {e}", launch.program.display()),
            })?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let kept = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                    let room = STDERR_KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            });
        }
        let mut server = ServerProcess {
            name: launch.name.clone(),
            child,
            addr,
            stderr,
        };
        server.wait_listening()?;
        Ok(server)
    }

    fn wait_listening(&mut self) -> Result<()> {
        let start = Instant::now();
        loop {
            self.check_running()?;
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > STARTUP_LIMIT {
                return Err(Error::Server {
                    name: self.name.clone(),
                    message: format!(
                        "not listening on {} after {} s{}",
                        self.addr,
                        STARTUP_LIMIT.as_secs(),
                        self.stderr_note()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the exit status and standard error if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                // Give the reader thread a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(50));
                Err(Error::Server {
                    name: self.name.clone(),
                    message: format!("exited ({status}){}", self.stderr_note()),
                })
            }
            Err(e) => Err(Error::io(format!("wait for server {}", self.name), e)),
        }
    }

    /// CPU time the server has used so far.
    pub fn cpu_time(&self) -> Result<procfs::CpuTime> {
        procfs::cpu_time(self.pid())
            .map_err(|e| Error::io(format!("read the CPU time of server {}", self.name), e))
    }

    /// The server's resident set size in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        procfs::rss_kib(self.pid())
            .map_err(|e| Error::io(format!("read the RSS of server {}", self.name), e))
    }

    /// How many descriptors the server has open.
    pub fn open_fds(&self) -> Result<usize> {
        procfs::open_fds(self.pid())
            .map_err(|e| Error::io(format!("list the descriptors of server {}", self.name), e))
    }

    fn stderr_note(&self) -> String {
        let kept = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&kept);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!("; its standard error:\n{text}")
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
