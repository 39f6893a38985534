//! The signals a long-running subcommand obeys: SIGINT/SIGTERM stop it
//! (gracefully where it can), SIGHUP reloads what can be reloaded.

use anyhow::Context;

/// What a signal asks of the service.
pub(crate) enum Signal {
    Stop,
    Reload,
}

/// SIGINT/SIGTERM (stop) and SIGHUP (reload).
#[cfg(unix)]
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    pub(crate) fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("install SIGTERM handler")?,
            hup: signal(SignalKind::hangup()).context("install SIGHUP handler")?,
        })
    }

    pub(crate) async fn next(&mut self) -> anyhow::Result<Signal> {
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("wait for SIGINT").map(|()| Signal::Stop),
            _ = self.term.recv() => Ok(Signal::Stop),
            _ = self.hup.recv() => Ok(Signal::Reload),
        }
    }
}

/// Ctrl-C (stop).
#[cfg(not(unix))]
pub(crate) struct Signals;

#[cfg(not(unix))]
impl Signals {
    pub(crate) fn new() -> anyhow::Result<Signals> {
        Ok(Signals)
    }

    pub(crate) async fn next(&mut self) -> anyhow::Result<Signal> {
        tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
        Ok(Signal::Stop)
    }
}
