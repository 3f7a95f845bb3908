//! [`Simulator`]: the thin IO shell around the [`Interpreter`] — pty, the
//! real socket, name lookups, timers — run as one tokio task.
//!
//! Every input (UART bytes, socket reports, timers, lookups, faults) is
//! handed to the interpreter on this one task and its actions are carried
//! out in order, so the UART output is exactly the interpreter's.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use module_sim::faults::FaultQueue;
use module_sim::net::{SocketLink, SocketReport, Target};
use module_sim::pty::Pty;
use module_sim::task::{ModuleTask, StopSignal, TaskGuard};
use module_sim::uart::{self, LineRate, UartOut};
use tokio::sync::mpsc;

use crate::config::SimConfig;
use crate::control::{Fault, SimControl};
use crate::interpreter::{Action, Event, Interpreter};

/// A running emulated module on its own pty.
#[derive(Debug)]
pub struct Simulator {
    task: ModuleTask,
    control: SimControl,
}

impl Simulator {
    /// Opens a pty and powers the module up on it.
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        let pty = Pty::open()?;
        let path = pty.path.clone();
        let faults = FaultQueue::default();
        let control = SimControl::new(faults.clone());
        let interp = Interpreter::new(config.clone(), Instant::now());
        let task = ModuleTask::spawn(path, |stopped| run(pty, config, interp, faults, stopped));
        Ok(Simulator { task, control })
    }

    /// The pty slave path, the module's "serial port".
    pub fn tty_path(&self) -> &Path {
        self.task.tty_path()
    }

    /// A handle for fault injection.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// Stops the module: the socket and the pty are closed.
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }

    /// Resolves if the module stops by itself (its pty failed).
    pub async fn stopped(&mut self) {
        self.task.stopped().await;
    }
}

/// What the helper tasks report to the shell.
enum Report {
    Socket {
        generation: u64,
        report: SocketReport,
    },
    Event(Event),
}

struct Shell {
    config: SimConfig,
    interp: Interpreter,
    faults: FaultQueue<Fault>,
    uart: mpsc::UnboundedSender<UartOut>,
    reports: mpsc::UnboundedSender<Report>,
    link: Option<SocketLink>,
    generation: u64,
}

async fn run(
    pty: Pty,
    config: SimConfig,
    interp: Interpreter,
    faults: FaultQueue<Fault>,
    mut stopped: StopSignal,
) {
    let Pty {
        master,
        slave: _slave,
        path,
    } = pty;
    tracing::info!("WIZ550S2E emulator on {}", path.display());
    let rate = LineRate::new(config.baud, config.pace);
    let (read_half, write_half) = tokio::io::split(master);
    let (uart_tx, uart_rx) = mpsc::unbounded_channel();
    let (input_tx, mut input_rx) = mpsc::unbounded_channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let _helpers = TaskGuard::new([
        tokio::spawn(uart::write_loop(write_half, uart_rx, rate.clone())).abort_handle(),
        tokio::spawn(uart::read_loop(read_half, input_tx, rate)).abort_handle(),
    ]);
    let mut shell = Shell {
        config,
        interp,
        faults,
        uart: uart_tx,
        reports: report_tx,
        link: None,
        generation: 0,
    };
    // Power-up may already have asked for a connection (data mode).
    shell.act();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = shell.faults.queued() => shell.take_faults(),
            input = input_rx.recv() => {
                let Some(bytes) = input else { break };
                shell.take_faults();
                shell.interp.handle_input(&bytes, Instant::now());
            }
            Some(report) = report_rx.recv() => {
                shell.take_faults();
                shell.report(report);
            }
        }
        shell.act();
    }
}

impl Shell {
    fn take_faults(&mut self) {
        for fault in self.faults.take_all() {
            self.interp
                .handle_event(Event::Fault(fault), Instant::now());
        }
    }

    fn report(&mut self, report: Report) {
        let event = match report {
            Report::Event(event) => event,
            Report::Socket { generation, report } => {
                if self.link.as_ref().map(SocketLink::generation) != Some(generation) {
                    return;
                }
                match report {
                    SocketReport::Connected { local_port } => Event::Connected { local_port },
                    SocketReport::ConnectFailed => {
                        self.link = None;
                        Event::ConnectFailed
                    }
                    SocketReport::Received(data) => Event::Received(data),
                    SocketReport::Closed => {
                        self.link = None;
                        Event::PeerClosed
                    }
                }
            }
        };
        self.interp.handle_event(event, Instant::now());
    }

    /// Carries out the interpreter's actions, in order.
    fn act(&mut self) {
        for action in self.interp.take_actions() {
            match action {
                Action::Write(bytes) => {
                    let _ = self.uart.send(UartOut::Bytes(bytes));
                }
                Action::Pause(d) => {
                    let _ = self.uart.send(UartOut::Pause(d));
                }
                Action::Connect { remote, local_port } => {
                    self.generation += 1;
                    let generation = self.generation;
                    let reports = self.reports.clone();
                    let target = Target {
                        remote,
                        local_port,
                        timeout: self.config.connect_timeout,
                    };
                    self.link = Some(SocketLink::open(target, generation, move |report| {
                        let _ = reports.send(Report::Socket { generation, report });
                    }));
                }
                Action::Send(data) => {
                    if let Some(link) = &self.link {
                        link.send(data);
                    }
                }
                Action::SendRecord(data) => {
                    if let Some(link) = &self.link {
                        link.send(data);
                    }
                    // Handed over once queued for the socket's writer (the
                    // firmware's non-blocking send copies into the W5500's
                    // buffer). Reported through the shell's queue, so input
                    // that comes before the report waits in the ring.
                    let _ = self.reports.send(Report::Event(Event::SendDone));
                }
                Action::Close => self.link = None,
                Action::Resolve(name) => {
                    let reports = self.reports.clone();
                    let timeout = self.config.dns_timeout;
                    tokio::spawn(async move {
                        let addr = resolve(&name, timeout).await;
                        let _ = reports.send(Report::Event(Event::Resolved(addr)));
                    });
                }
                Action::Schedule { after, timer } => {
                    let reports = self.reports.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = reports.send(Report::Event(Event::Timer(timer)));
                    });
                }
            }
        }
    }
}

/// The first IPv4 address of `name` by the host's resolver, if any in time.
async fn resolve(name: &str, timeout: Duration) -> Option<Ipv4Addr> {
    let lookup = tokio::net::lookup_host((name, 0));
    let addrs = tokio::time::timeout(timeout, lookup).await.ok()?.ok()?;
    addrs.into_iter().find_map(|addr| match addr {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}
