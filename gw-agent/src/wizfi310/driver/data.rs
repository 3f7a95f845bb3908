//! Socket data: opening a socket, `AT+SSEND` (one payload or pipelined)
//! and the module's data mode (raw bytes until `+++`).

use super::*;

impl Driver {
    /// `AT+SCON`: opens a socket. Returns the socket id when the module
    /// reported `[CONNECT x]` (a TCP client opened at once reports it; the
    /// driver waits up to `Timeouts::connect_event` after `[OK]` for it).
    /// With `data_mode` set the driver is in data mode after `[OK]`.
    pub async fn open_socket(&self, open: &SocketOpen) -> Result<Option<u8>, Error> {
        let line = open.line()?;
        let shown = open.shown();
        let timeouts = &self.inner.timeouts;
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        if open.data_mode {
            self.inner
                .shared
                .request_data_after_ok
                .store(true, Ordering::SeqCst);
        }
        let reply = self
            .exchange(&mut ex, &line, &shown, open.timeout(timeouts))
            .await?;
        let sid = open.parse(&reply).unwrap_or(None);
        if sid.is_some() || !open.expects_connect() || open.data_mode {
            return Ok(sid);
        }
        let deadline = Instant::now() + timeouts.connect_event;
        loop {
            match timeout_at(deadline, ex.replies.recv()).await {
                Ok(Some(Incoming::Event(Event::Connect { sid }))) => return Ok(Some(sid)),
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Closed),
                Err(_) => return Ok(None),
            }
        }
    }

    /// `AT+SSEND=<sid>,,,<len>` then exactly the payload, then `[OK]`.
    ///
    /// The driver waits up to `Timeouts::send_prompt` (less once the module
    /// has given go-aheads: `prompt_wait`) for the module's
    /// `[sid,,,len]` go-ahead (or an `[ERROR…]`, in which case no payload
    /// is written), then writes the payload whether or not a go-ahead came.
    /// A final reply that does not come within the send's timeout, from a
    /// module that then answers `AT`, counts as sent
    /// ([`unconfirmed_sends`](Self::unconfirmed_sends)).
    pub async fn send(&self, sid: u8, payload: &[u8]) -> Result<(), Error> {
        check_send_size(payload.len())?;
        let line = ssend_line(sid, payload.len());
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        write_all(&mut ex, &[line.as_bytes(), b"\r"]).await?;
        let go = self.await_go_ahead(&mut ex, &line).await?;
        self.finish_send(&mut ex, line, payload, go).await
    }

    /// AT+SSEND for a stream of payloads: sends what `next` yields, in
    /// order, until it yields `None` or another command waits for the
    /// driver (it then gets its turn; call again for the rest). Returns how
    /// many payloads went out.
    ///
    /// Unlike [`send`](Self::send), the next `AT+SSEND` line is written
    /// right after the previous payload, before its `[OK]`: the module
    /// reads it from its UART buffer once the payload is in, and its
    /// go-ahead comes back right after that `[OK]`, ahead of any socket
    /// data the payload caused. A payload is still written only after its
    /// go-ahead, or once the wait for it passed without one from a module
    /// that has given one before (it was lost on the way). A module
    /// that has never given a bracketed go-ahead is served one payload the
    /// plain way, without pipelining.
    ///
    /// A lost `[OK]` is not a failure: the next line's go-ahead coming
    /// first, or the module answering the re-sync `AT` after the send's
    /// timeout, counts the payload as sent ([`unconfirmed_sends`]
    /// (Self::unconfirmed_sends)); with nothing queued behind a payload, a
    /// payload queued while its `[OK]` is awaited gets its line written
    /// then, so that its go-ahead can tell.
    ///
    /// `next` must yield 1..=100,000,000 bytes. On an error the payloads
    /// not yet sent are lost to the caller (it took them from `next`): a
    /// caller that must not lose them keeps its own copy — the agent's
    /// spool does.
    pub async fn send_pipelined<F>(&self, sid: u8, mut next: F) -> Result<usize, Error>
    where
        F: FnMut() -> Option<Bytes>,
    {
        let Some(mut payload) = next() else {
            return Ok(0);
        };
        check_send_size(payload.len())?;
        let mut line = ssend_line(sid, payload.len());
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        write_all(&mut ex, &[line.as_bytes(), b"\r"]).await?;
        let mut sent = 0;
        // The go-ahead of the line being served, when it came early (while
        // waiting for the previous payload's final reply).
        let mut known_go = None;
        loop {
            let go = match known_go.take() {
                Some(go) => go,
                None => self.await_go_ahead(&mut ex, &line).await?,
            };
            let prompts_seen = self.inner.shared.prompt_micros.load(Ordering::Relaxed) > 0;
            // A missing go-ahead from a module that gives them was lost on
            // the way: the module is reading the payload all the same.
            let go = match go {
                GoAhead::Silent if prompts_seen => {
                    tracing::debug!(command = %line, "go-ahead lost; writing the payload");
                    GoAhead::Prompt
                }
                go => go,
            };
            if go != GoAhead::Prompt {
                self.finish_send(&mut ex, line, &payload, go).await?;
                return Ok(sent + 1);
            }
            write_all(&mut ex, &[&payload]).await?;
            let mut following = self.take_following(&mut ex, sid, &mut next).await?;
            let after = self.inner.timeouts.send_for(payload.len());
            let deadline = Instant::now() + after;
            // Until a next line is out, the wait for this payload's final
            // reply looks for one now and then: its go-ahead would tell a
            // lost `[OK]` at once instead of at the deadline.
            let end = loop {
                let until = match following {
                    Some(_) => deadline,
                    None => deadline.min(Instant::now() + LATE_LINE_POLL),
                };
                match await_end(&mut ex, until, following.is_some()).await? {
                    None if following.is_none() && Instant::now() < deadline => {
                        following = self.take_following(&mut ex, sid, &mut next).await?;
                    }
                    end => break end,
                }
            };
            match end {
                Some(End::Final(Final::Ok(_))) => sent += 1,
                // The module reads a line only once the payload before it
                // is sent, so the next line's go-ahead means this payload's
                // `[OK]` was lost on the way.
                Some(End::Prompt) => {
                    self.note_unconfirmed(&line, "the next line's go-ahead came first");
                    sent += 1;
                    known_go = Some(GoAhead::Prompt);
                }
                Some(End::Final(Final::Error(words))) => {
                    if let Some((next_line, next_payload)) = following {
                        // The module has read that line: finish its exchange
                        // so that it does not take later commands as payload.
                        if let Ok(go) = self.await_go_ahead(&mut ex, &next_line).await {
                            let _ = self
                                .finish_send(&mut ex, next_line, &next_payload, go)
                                .await;
                        }
                    }
                    return Err(Error::Module {
                        command: line,
                        words,
                    });
                }
                None => match following {
                    // The module holds the next line, so a bare `AT` would
                    // be read as its payload. Whether it is still sending
                    // this payload or lost both answers, what it reads next
                    // is the next payload: write it and take its answer.
                    Some((next_line, next_payload)) => {
                        self.note_unconfirmed(&line, "no final reply");
                        let go = GoAhead::Silent;
                        self.finish_send(&mut ex, next_line, &next_payload, go)
                            .await?;
                        return Ok(sent + 2);
                    }
                    None => {
                        self.resync_after_send(&mut ex, line, after).await?;
                        return Ok(sent + 1);
                    }
                },
            }
            match following {
                Some((next_line, next_payload)) => {
                    line = next_line;
                    payload = next_payload;
                }
                None => return Ok(sent),
            }
        }
    }

    /// The next payload from `next`, its AT+SSEND line written, unless
    /// another command waits for the driver (it gets its turn first).
    async fn take_following<F>(
        &self,
        ex: &mut Exchange,
        sid: u8,
        next: &mut F,
    ) -> Result<Option<(String, Bytes)>, Error>
    where
        F: FnMut() -> Option<Bytes>,
    {
        if self.inner.shared.waiting.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        let Some(payload) = next() else {
            return Ok(None);
        };
        check_send_size(payload.len())?;
        let line = ssend_line(sid, payload.len());
        write_all(ex, &[line.as_bytes(), b"\r"]).await?;
        Ok(Some((line, payload)))
    }

    /// Waits for the go-ahead of an AT+SSEND line (see [`send`](Self::send)).
    async fn await_go_ahead(&self, ex: &mut Exchange, line: &str) -> Result<GoAhead, Error> {
        let recent = &self.inner.shared.prompt_micros;
        let started = Instant::now();
        let deadline = started + prompt_wait(recent.load(Ordering::Relaxed), &self.inner.timeouts);
        loop {
            match timeout_at(deadline, ex.replies.recv()).await {
                Ok(Some(Incoming::Line(ResponseLine::SendPrompt { .. }))) => {
                    let took = (started.elapsed().as_micros() as u64).max(1);
                    let _ = recent.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                        Some(took.max(old - old / 8))
                    });
                    return Ok(GoAhead::Prompt);
                }
                Err(_) => return Ok(GoAhead::Silent),
                Ok(Some(Incoming::Line(ResponseLine::Ok))) => return Ok(GoAhead::OkEarly),
                Ok(Some(Incoming::Line(ResponseLine::Error(words)))) => {
                    return Err(Error::Module {
                        command: line.to_owned(),
                        words,
                    });
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Closed),
            }
        }
    }

    /// Writes the payload of an AT+SSEND and takes its final reply.
    async fn finish_send(
        &self,
        ex: &mut Exchange,
        line: String,
        payload: &[u8],
        go: GoAhead,
    ) -> Result<(), Error> {
        let timeouts = &self.inner.timeouts;
        write_all(ex, &[payload]).await?;
        if go == GoAhead::OkEarly {
            // `[OK]` came before the payload: take a second final if it
            // comes soon, and success if none does.
            let deadline = Instant::now() + timeouts.send_prompt;
            return match await_final(ex, deadline).await {
                Ok(Some(Final::Error(words))) => Err(Error::Module {
                    command: line,
                    words,
                }),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let after = timeouts.send_for(payload.len());
        match await_final(ex, Instant::now() + after).await? {
            Some(Final::Ok(_)) => Ok(()),
            Some(Final::Error(words)) => Err(Error::Module {
                command: line,
                words,
            }),
            None => self.resync_after_send(ex, line, after).await,
        }
    }

    /// After an AT+SSEND payload whose final reply did not come: re-syncs
    /// with `AT`. A module that answers took the payload (it was reading
    /// it, or had sent it and lost the `[OK]`), so the send counts as done,
    /// unconfirmed: one command's timeout, not a failed send that would
    /// end the socket's session. Whether the bytes reached the peer is the
    /// peer's to confirm (a GMMP delivery's response; the agent resends a
    /// delivery whose response does not come). A module that does not
    /// answer is an error.
    async fn resync_after_send(
        &self,
        ex: &mut Exchange,
        line: String,
        after: Duration,
    ) -> Result<(), Error> {
        match self.recover(ex, line.clone(), after).await {
            Error::Timeout { .. } => {
                self.note_unconfirmed(&line, "no final reply; the module answers AT");
                Ok(())
            }
            e => Err(e),
        }
    }

    fn note_unconfirmed(&self, line: &str, why: &str) {
        let total = self
            .inner
            .shared
            .unconfirmed_sends
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        tracing::warn!(
            command = line,
            why,
            total,
            "a send's [OK] was lost; counted as sent (its data's answer confirms it)"
        );
    }

    /// AT+SSENDs counted as sent without their final `[OK]`: the reply was
    /// lost but the module had taken the payload (the next line's go-ahead
    /// came, or the module answered the re-sync `AT`).
    pub fn unconfirmed_sends(&self) -> u64 {
        self.inner.shared.unconfirmed_sends.load(Ordering::Relaxed)
    }

    /// `AT+SDATA`: back to data mode after a `+++` escape.
    pub async fn resume_data_mode(&self) -> Result<(), Error> {
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        self.inner
            .shared
            .request_data_after_ok
            .store(true, Ordering::SeqCst);
        let timeout = self.inner.timeouts.command;
        self.exchange(&mut ex, "AT+SDATA", "AT+SDATA", timeout)
            .await
            .map(drop)
    }

    /// Writes raw bytes to the data-mode socket.
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut ex = self.inner.exchange.lock().await;
        if !self.in_data_mode() {
            return Err(Error::WrongMode("command"));
        }
        write_all(&mut ex, &[bytes]).await
    }

    /// Leaves data mode with `+++`: silence for the guard time, `+++`,
    /// then the module's `[OK]` (it waits the guard time too).
    pub async fn escape_data_mode(&self) -> Result<(), Error> {
        let mut ex = self.inner.exchange.lock().await;
        if !self.in_data_mode() {
            return Err(Error::WrongMode("command"));
        }
        let guard_time = self.inner.timeouts.escape_guard;
        let _guard = self.begin(&mut ex);
        tokio::time::sleep(guard_time).await;
        write_all(&mut ex, &[b"+++"]).await?;
        self.inner
            .shared
            .request_command_mode
            .store(true, Ordering::SeqCst);
        let after = guard_time * 2 + self.inner.timeouts.command;
        match await_final(&mut ex, Instant::now() + after).await? {
            Some(Final::Ok(_)) => Ok(()),
            Some(Final::Error(words)) => Err(Error::Module {
                command: "+++".into(),
                words,
            }),
            None => Err(self.recover(&mut ex, "+++".into(), after).await),
        }
    }
}

/// The shortest wait for the go-ahead of a module that gives them.
const PROMPT_WAIT_FLOOR: Duration = Duration::from_millis(100);

/// How long to wait for an AT+SSEND go-ahead, given how long they took
/// lately (`recent_micros`, 0 before the first): `Timeouts::send_prompt`
/// until the module has given one; then four times the recent maximum,
/// at least [`PROMPT_WAIT_FLOOR`], at most `send_prompt`. A go-ahead that
/// does not come in that time was lost (the payload is written anyway),
/// and each lost one then costs a fraction of a second, not a second: at
/// 115200 baud a go-ahead queued behind 1 KiB of socket data takes about
/// 90 ms.
fn prompt_wait(recent_micros: u64, timeouts: &Timeouts) -> Duration {
    if recent_micros == 0 {
        return timeouts.send_prompt;
    }
    (Duration::from_micros(recent_micros) * 4).clamp(
        PROMPT_WAIT_FLOOR.min(timeouts.send_prompt),
        timeouts.send_prompt,
    )
}

/// How often a pipelined send with nothing queued behind its payload looks
/// for a next payload while the payload's `[OK]` is awaited. Short beside
/// a UART's turnaround; the check is a lock and a queue look-up.
const LATE_LINE_POLL: Duration = Duration::from_millis(20);

/// What answered an AT+SSEND line before its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoAhead {
    /// `[sid,,,len]`.
    Prompt,
    /// `[OK]` (a firmware that answers before reading the payload).
    OkEarly,
    /// Nothing within the wait (`prompt_wait`).
    Silent,
}

fn check_send_size(len: usize) -> Result<(), Error> {
    if len == 0 || len > 100_000_000 {
        return Err(Error::InvalidArgument {
            command: "AT+SSEND",
            reason: format!("size {len} outside 1..=100000000"),
        });
    }
    Ok(())
}

fn ssend_line(sid: u8, len: usize) -> String {
    format!("AT+SSEND={sid},,,{len}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_ahead_wait_fits_the_module_once_it_has_given_one() {
        let t = Timeouts::default();
        assert_eq!(prompt_wait(0, &t), t.send_prompt, "none seen yet");
        assert_eq!(
            prompt_wait(1_000, &t),
            PROMPT_WAIT_FLOOR,
            "fast module: the floor"
        );
        assert_eq!(prompt_wait(90_000, &t), Duration::from_millis(360));
        assert_eq!(
            prompt_wait(5_000_000, &t),
            t.send_prompt,
            "never above send_prompt"
        );
        let short = Timeouts {
            send_prompt: Duration::from_millis(50),
            ..Timeouts::default()
        };
        assert_eq!(prompt_wait(1_000, &short), Duration::from_millis(50));
    }
}
