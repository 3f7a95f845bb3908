//! [`SimControl`]: the test's hand on the emulated module — [`Fault`]
//! injection through the fault queue every emulator shares.

use std::time::Duration;

use module_sim::faults::FaultQueue;

/// A fault to inject into the emulated module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The Ethernet link goes down: an open socket closes (`[V,0,2]` in
    /// command mode), connects time out, lookups fail, until [`Fault::LinkUp`].
    LinkDown,
    /// The link is back.
    LinkUp,
    /// The peer closes the connection (`[V,0,2]` in command mode; in data
    /// mode the module reconnects).
    PeerClose,
    /// An unsolicited reboot (watchdog, brown-out): no output, sockets
    /// dropped, settings back to the saved ones, the boot mode again.
    Reset,
    /// The next command's response lines are never written.
    DropNextResponse,
    /// The next command's response is written after this delay.
    DelayNextResponse(Duration),
    /// The next response or event line is garbled.
    GarbleNextLine,
    /// The next AT+NSEND finds only this much free transmit buffer, so a
    /// longer one fails with `[F,,7,<free>]`.
    BusyBuffer(u16),
}

/// Cheap, cloneable handle on the running emulator.
#[derive(Debug, Clone, Default)]
pub struct SimControl {
    faults: FaultQueue<Fault>,
}

impl SimControl {
    pub(crate) fn new(faults: FaultQueue<Fault>) -> Self {
        SimControl { faults }
    }

    /// Injects a fault; see [`Fault`] for what each does.
    pub fn inject(&self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Takes the Ethernet link down (`false`) or brings it back.
    pub fn set_link(&self, up: bool) {
        self.inject(if up { Fault::LinkUp } else { Fault::LinkDown });
    }
}
