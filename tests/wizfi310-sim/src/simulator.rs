//! [`Simulator`]: the thin IO shell around the [`Interpreter`] — pty, real
//! sockets, timers, the GMMP client — run as one tokio task.
//!
//! Every input (UART bytes, socket reports, timers, GMMP lines, faults) is
//! handed to the interpreter on this one task, and its actions are carried
//! out in order, so the UART output is exactly the interpreter's.

use std::io;
use std::path::Path;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::config::SimConfig;
use crate::control::{Board, SimControl};
use crate::gmmp_client::{self, Timing};
use crate::interpreter::{Action, Event, GmmpCommand, Interpreter, MAX_SOCKETS};
use module_sim::net::{SocketLink, SocketReport, Target};
use module_sim::pty::Pty;
use module_sim::task::{ModuleTask, StopSignal, TaskGuard};
use module_sim::uart::{self, LineRate, UartOut};

/// A running emulated module on its own pty.
#[derive(Debug)]
pub struct Simulator {
    task: ModuleTask,
    control: SimControl,
}

impl Simulator {
    /// Opens a pty and starts the module on it. Fails with `InvalidInput`
    /// when `config.mac` is not a MAC address.
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        if !crate::interpreter::is_valid_mac(&config.mac) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a MAC address: {:?}", config.mac),
            ));
        }
        let pty = Pty::open()?;
        let path = pty.path.clone();
        let board = Board::default();
        let control = SimControl::new(board.clone());
        // Built here, not in the task, so SimControl changes made right
        // after start are not overwritten by the config.
        let interp = Interpreter::new(config.clone(), board.clone());
        let task = ModuleTask::spawn(path, |stopped| run(pty, config, interp, board, stopped));
        Ok(Simulator { task, control })
    }

    /// The pty slave path, the module's "serial port".
    pub fn tty_path(&self) -> &Path {
        self.task.tty_path()
    }

    /// A handle on board values and fault injection.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    /// Stops the module: sockets, GMMP client and pty are closed.
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
        sid: u8,
        generation: u64,
        report: SocketReport,
    },
    Event(Event),
}

struct Shell {
    config: SimConfig,
    interp: Interpreter,
    board: Board,
    uart: mpsc::UnboundedSender<UartOut>,
    rate: LineRate,
    reports: mpsc::UnboundedSender<Report>,
    sockets: [Option<SocketLink>; MAX_SOCKETS],
    generation: u64,
    gmmp: mpsc::UnboundedSender<GmmpCommand>,
}

async fn run(
    pty: Pty,
    config: SimConfig,
    interp: Interpreter,
    board: Board,
    mut stopped: StopSignal,
) {
    let Pty {
        master,
        slave: _slave,
        path,
    } = pty;
    tracing::info!("WizFi310 emulator on {}", path.display());
    let rate = LineRate::new(config.baud, config.pace);
    let (read_half, write_half) = tokio::io::split(master);
    let (uart_tx, uart_rx) = mpsc::unbounded_channel();
    let (input_tx, mut input_rx) = mpsc::unbounded_channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel();
    let (gmmp_tx, gmmp_rx) = mpsc::unbounded_channel();
    let gmmp_reports = report_tx.clone();
    let timing = Timing {
        tick: config.gmmp_tick,
        retry: config.gmmp_retry,
    };
    let _helpers = TaskGuard::new([
        tokio::spawn(uart::write_loop(write_half, uart_rx, rate.clone())).abort_handle(),
        tokio::spawn(uart::read_loop(read_half, input_tx, rate.clone())).abort_handle(),
        tokio::spawn(gmmp_client::run(
            gmmp_rx,
            move |line| {
                let _ = gmmp_reports.send(Report::Event(Event::Gmmp(line)));
            },
            timing,
        ))
        .abort_handle(),
    ]);
    let mut shell = Shell {
        interp,
        config,
        board,
        uart: uart_tx,
        rate,
        reports: report_tx,
        sockets: Default::default(),
        generation: 0,
        gmmp: gmmp_tx,
    };
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            input = input_rx.recv() => {
                let Some(bytes) = input else { break };
                shell.take_faults();
                shell.interp.handle_input(&bytes, Instant::now());
            }
            report = report_rx.recv() => {
                // The shell holds a sender itself, so this never ends.
                let Some(report) = report else { break };
                shell.take_faults();
                shell.report(report);
            }
            _ = shell.board.fault_queued() => shell.take_faults(),
        }
        shell.act();
    }
}

impl Shell {
    fn take_faults(&mut self) {
        for fault in self.board.take_faults() {
            self.interp
                .handle_event(Event::Fault(fault), Instant::now());
        }
    }

    fn report(&mut self, report: Report) {
        let event = match report {
            Report::Event(event) => event,
            Report::Socket {
                sid,
                generation,
                report,
            } => {
                let current = self.sockets[usize::from(sid)]
                    .as_ref()
                    .is_some_and(|link| link.generation() == generation);
                if !current {
                    return;
                }
                match report {
                    SocketReport::Connected { local_port } => Event::Connected { sid, local_port },
                    SocketReport::ConnectFailed => {
                        self.sockets[usize::from(sid)] = None;
                        Event::ConnectFailed { sid }
                    }
                    SocketReport::Received(data) => Event::Received { sid, data },
                    SocketReport::Closed => {
                        self.sockets[usize::from(sid)] = None;
                        Event::PeerClosed { sid }
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
                Action::SetBaud(baud) => self.rate.set(baud),
                Action::Connect {
                    sid,
                    remote,
                    local_port,
                } => self.connect(sid, remote, local_port),
                Action::Send { sid, data } => {
                    if let Some(link) = &self.sockets[usize::from(sid)] {
                        link.send(data);
                    }
                }
                Action::Close { sid } => self.sockets[usize::from(sid)] = None,
                Action::Schedule { after, timer } => {
                    let reports = self.reports.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        let _ = reports.send(Report::Event(Event::Timer(timer)));
                    });
                }
                Action::Gmmp(command) => {
                    let _ = self.gmmp.send(command);
                }
            }
        }
    }

    fn connect(&mut self, sid: u8, remote: std::net::SocketAddrV4, local_port: u16) {
        self.generation += 1;
        let generation = self.generation;
        let reports = self.reports.clone();
        let target = Target {
            remote,
            local_port,
            timeout: self.config.connect_timeout,
        };
        let link = SocketLink::open(target, generation, move |report| {
            let _ = reports.send(Report::Socket {
                sid,
                generation,
                report,
            });
        });
        self.sockets[usize::from(sid)] = Some(link);
    }
}
