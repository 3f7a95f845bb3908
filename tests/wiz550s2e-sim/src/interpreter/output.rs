//! What the module writes on the UART, sorted by kind so the response
//! faults apply to the right bytes:
//!
//! - response: the lines a command prints while it is handled (`[S]`,
//!   `[F,…]`, `[W,0]`, a `[D,…]` header) — dropped, delayed or garbled;
//! - event: `[V,…]`, `[R,…]` headers and the `[S,0]` / `[F,0,…]` that
//!   finish an asynchronous command — garbled only;
//! - data: received bytes and dump bodies — never touched.

use bytes::Bytes;
use module_sim::faults::{CommandFault, garble};

use super::line::{self, Failure};
use super::{Action, Interpreter};

impl Interpreter {
    pub(crate) fn write(&mut self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        if !bytes.is_empty() {
            self.actions.push(Action::Write(bytes));
        }
    }

    fn write_line(&mut self, text: &str) {
        if self.faults.take_garble() {
            self.write(garble(text.as_bytes()));
        } else {
            self.write(format!("{text}\r\n"));
        }
    }

    /// Applies the current command's drop / delay; false when dropped.
    fn pass_response_fault(&mut self) -> bool {
        match self.faults.current() {
            CommandFault::Drop => false,
            CommandFault::Delay(d) => {
                self.actions.push(Action::Pause(d));
                self.faults.delay_applied();
                true
            }
            CommandFault::None => true,
        }
    }

    /// A response line of the command being handled.
    pub(crate) fn respond(&mut self, text: &str) {
        if self.pass_response_fault() {
            self.write_line(text);
        }
    }

    /// `[F,,<code>[,<detail>]]`.
    pub(crate) fn fail(&mut self, failure: Failure) {
        self.respond(&line::failure(None, failure));
    }

    /// `[D,<id>,<len>]` and, when not empty, the body and CR LF.
    pub(crate) fn dump(&mut self, id: Option<u8>, body: &str) {
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        if !self.pass_response_fault() {
            return;
        }
        self.write_line(&format!("[D,{id},{}]", body.len()));
        if !body.is_empty() {
            self.write(format!("{body}\r\n"));
        }
    }

    /// An unsolicited line, or the end of an asynchronous command.
    pub(crate) fn event(&mut self, text: &str) {
        self.write_line(text);
    }
}
