//! The pseudo-terminal the module is emulated on.
//!
//! `tokio_serial::SerialStream::pair()` (serialport's `TTYPort::pair`:
//! `posix_openpt`, `grantpt`, `unlockpt`, `ptsname_r`, slave set raw) gives
//! the master and an open slave, whose name is the path the driver opens.
//! No extra dependency is needed. The emulator keeps its own slave handle
//! open for its whole life: without it the master would read EIO each time
//! the driver closes the port. Output written while no host has the port
//! open waits in the pty's buffer and is read at the next open (a driver
//! should discard stale input when it opens the port).

use std::io;
use std::path::PathBuf;

use tokio_serial::{SerialPort, SerialStream};

/// A pty pair: the emulator's side and the path of the host's side.
#[derive(Debug)]
pub struct Pty {
    /// The master, where the module reads and writes.
    pub master: SerialStream,
    /// The slave, held open only to keep the pty alive between opens.
    pub slave: SerialStream,
    /// Path of the slave device, e.g. `/dev/pts/7`.
    pub path: PathBuf,
}

impl Pty {
    /// Opens a new pty pair.
    pub fn open() -> io::Result<Pty> {
        let (master, slave) = SerialStream::pair().map_err(io::Error::from)?;
        let path = slave
            .name()
            .ok_or_else(|| io::Error::other("the pty slave has no device name"))?;
        Ok(Pty {
            master,
            slave,
            path: PathBuf::from(path),
        })
    }
}
