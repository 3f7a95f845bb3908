//! [`run`]: the agent on the transport its [`Config`] names, until
//! `shutdown` — what `gw-agent run` does after loading its settings, kept
//! in the library so that a harness can run the real agent in a process
//! of its own (and SIGKILL it) without a separately built binary.

use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, AgentError};
use crate::config::{Config, ModuleKind, TransportKind, Wiz550s2eMode};
use crate::module::wiz550s2e::{Wiz550s2eModule, Wiz550s2eSettings};
use crate::module::{Module, ModuleSettings};
use crate::transport::{
    BridgeTransport, DirectTransport, NativeTransport, Wiz550s2eBridge, Wiz550s2eDataBridge,
};

/// Starts the agent (spool, sources) and runs it over the configured
/// transport until `shutdown` is cancelled or a fatal error ends it.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AgentError> {
    match config.transport {
        TransportKind::Direct => {
            let transport = DirectTransport::new(&config.omp_host, config.omp_port);
            let agent = Agent::start(config).await?;
            agent.run(transport, shutdown).await
        }
        TransportKind::Bridge
            if config.module == ModuleKind::Wiz550s2e
                && config.wiz550s2e_mode == Wiz550s2eMode::Data =>
        {
            let module = Wiz550s2eModule::new(Wiz550s2eSettings::from_config(&config));
            let transport = Wiz550s2eDataBridge::new(module, &config.omp_host, config.omp_port);
            let agent = Agent::start(config).await?;
            agent.run(transport, shutdown).await
        }
        TransportKind::Bridge if config.module == ModuleKind::Wiz550s2e => {
            let module = Wiz550s2eModule::new(Wiz550s2eSettings::from_config(&config));
            let transport = Wiz550s2eBridge::new(module, &config.omp_host, config.omp_port);
            let agent = Agent::start(config).await?;
            agent.run(transport, shutdown).await
        }
        TransportKind::Bridge => {
            let module = Module::new(ModuleSettings::from_config(&config));
            let transport = BridgeTransport::new(module, &config.omp_host, config.omp_port);
            let mut agent = Agent::start(config).await?;
            agent.add_module_source(transport.module_handle());
            agent.run(transport, shutdown).await
        }
        TransportKind::Native => {
            let module = Module::new(ModuleSettings::from_config(&config));
            let transport = NativeTransport::new(module, &config.omp_host, config.omp_port);
            let mut agent = Agent::start(config).await?;
            agent.add_module_source(transport.module_handle());
            agent.run_native(transport, shutdown).await
        }
    }
}
