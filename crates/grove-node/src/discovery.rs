//! Finding peers, as libcluster does: a static list of addresses, DNS records of a headless
//! service (A/AAAA with a port, or SRV), and the peers that connected nodes tell about (the full
//! mesh). Discovery runs every `reconnect_interval`; an address that is not connected is tried
//! again each round, so peers that come back (or come up late) are joined.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use crate::node::NodeInner;
use crate::session::Phase;

/// A source of peer addresses for [`crate::NodeBuilder::discovery`].
#[derive(Clone, Debug)]
pub struct Discovery {
    source: Source,
    nameserver: Option<SocketAddr>,
}

#[derive(Clone, Debug)]
enum Source {
    Static(Vec<String>),
    Dns { name: String, port: u16 },
    DnsSrv { name: String },
}

impl Discovery {
    pub(crate) fn fixed(addrs: Vec<String>) -> Discovery {
        Discovery {
            source: Source::Static(addrs),
            nameserver: None,
        }
    }

    /// Every A and AAAA record of `name` (a Kubernetes headless service:
    /// `grove.default.svc.cluster.local`) is a peer listening on `port`.
    pub fn dns(name: impl Into<String>, port: u16) -> Discovery {
        Discovery {
            source: Source::Dns {
                name: name.into(),
                port,
            },
            nameserver: None,
        }
    }

    /// Every SRV record of `name` (`_grove._tcp.grove.default.svc.cluster.local`) is a peer at
    /// its target and port.
    pub fn dns_srv(name: impl Into<String>) -> Discovery {
        Discovery {
            source: Source::DnsSrv { name: name.into() },
            nameserver: None,
        }
    }

    /// Asks this DNS server instead of the system's (`/etc/resolv.conf`).
    pub fn nameserver(mut self, server: SocketAddr) -> Discovery {
        self.nameserver = Some(server);
        self
    }

    fn resolver(&self) -> Option<TokioResolver> {
        match self.nameserver {
            Some(server) => {
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
                let config = ResolverConfig::from_parts(None, Vec::new(), servers);
                let mut builder =
                    TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
                // Peers come and go: never answer from a stale cache.
                builder.options_mut().cache_size = 0;
                Some(builder.build())
            }
            None => match TokioResolver::builder_tokio() {
                Ok(mut builder) => {
                    builder.options_mut().cache_size = 0;
                    Some(builder.build())
                }
                Err(error) => {
                    tracing::error!(%error, "DNS discovery off: the system resolver configuration could not be read");
                    None
                }
            },
        }
    }

    /// The peers this source names right now.
    async fn addresses(&self, resolver: Option<&TokioResolver>) -> Vec<Found> {
        match &self.source {
            Source::Static(addrs) => addrs
                .iter()
                .map(|addr| Found::plain(addr.clone()))
                .collect(),
            Source::Dns { name, port } => {
                let Some(resolver) = resolver else {
                    return Vec::new();
                };
                match resolver.lookup_ip(name.as_str()).await {
                    Ok(ips) => ips
                        .iter()
                        .map(|ip| Found::plain(SocketAddr::new(ip, *port).to_string()))
                        .collect(),
                    Err(error) => {
                        tracing::debug!(%name, %error, "DNS discovery found no peers this round");
                        Vec::new()
                    }
                }
            }
            Source::DnsSrv { name } => {
                let Some(resolver) = resolver else {
                    return Vec::new();
                };
                let targets: Vec<(String, u16)> = match resolver.srv_lookup(name.as_str()).await {
                    Ok(records) => records
                        .iter()
                        .map(|srv| {
                            let host = srv.target().to_utf8();
                            (host.trim_end_matches('.').to_string(), srv.port())
                        })
                        .collect(),
                    Err(error) => {
                        tracing::debug!(%name, %error, "DNS SRV discovery found no peers this round");
                        return Vec::new();
                    }
                };
                // Each target's addresses through the same resolver (it may be the only one
                // that knows the name), all at once so one slow name does not hold the rest.
                // A target it cannot resolve is left to the system resolver at connect time.
                let lookups = targets.into_iter().map(|(host, port)| async move {
                    match resolver.lookup_ip(host.as_str()).await {
                        Ok(ips) => ips
                            .iter()
                            .map(|ip| Found {
                                addr: SocketAddr::new(ip, port).to_string(),
                                host: Some(format!("{host}:{port}")),
                            })
                            .collect(),
                        Err(_) => vec![Found::plain(format!("{host}:{port}"))],
                    }
                });
                futures_util::future::join_all(lookups)
                    .await
                    .into_iter()
                    .flatten()
                    .collect()
            }
        }
    }
}

/// A peer a discovery source named: the address to dial and, when that address was resolved
/// from a host name, the name (`host:port`), which TLS verifies the peer's certificate against.
struct Found {
    addr: String,
    host: Option<String>,
}

impl Found {
    fn plain(addr: String) -> Found {
        Found { addr, host: None }
    }

    /// True when this names the node itself.
    fn is_self(&self, node: &NodeInner) -> bool {
        let me = |addr: &str| addr == node.advertise || addr == node.listen_addr.to_string();
        me(&self.addr) || self.host.as_deref().is_some_and(me)
    }
}

/// Starts the discovery loop, if any source is configured.
pub(crate) fn start(node: &Arc<NodeInner>) {
    if node.config.discovery.is_empty() {
        return;
    }
    let node = node.clone();
    node.runtime.clone().spawn(async move {
        let sources: Vec<(Discovery, Option<TokioResolver>)> = node
            .config
            .discovery
            .iter()
            .map(|d| {
                let resolver = match d.source {
                    Source::Static(_) => None,
                    _ => d.resolver(),
                };
                (d.clone(), resolver)
            })
            .collect();
        // Which node each address turned out to be, so a connected one is not dialed again.
        let known: Arc<parking_lot::Mutex<HashMap<String, Arc<str>>>> = Arc::default();
        // Addresses being dialed: a slow attempt is not doubled by the next round.
        let dialing: Arc<parking_lot::Mutex<std::collections::HashSet<String>>> = Arc::default();
        let mut ticker = tokio::time::interval(node.config.reconnect_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for (source, resolver) in &sources {
                for found in source.addresses(resolver.as_ref()).await {
                    if found.is_self(&node) {
                        continue;
                    }
                    let Found { addr, host } = found;
                    let connected = known
                        .lock()
                        .get(&addr)
                        .is_some_and(|name| is_connected(&node, name));
                    if connected || !dialing.lock().insert(addr.clone()) {
                        continue;
                    }
                    let node = node.clone();
                    let known = known.clone();
                    let dialing = dialing.clone();
                    tokio::spawn(async move {
                        let outcome =
                            crate::connection::connect_addr(node, addr.clone(), host).await;
                        dialing.lock().remove(&addr);
                        match outcome {
                            Ok(name) => {
                                known.lock().insert(addr, name);
                            }
                            Err(error) => {
                                tracing::debug!(%addr, %error, "discovered peer not reachable")
                            }
                        }
                    });
                }
            }
        }
    });
}

fn is_connected(node: &NodeInner, name: &str) -> bool {
    node.sessions
        .pin()
        .values()
        .any(|s| *s.peer_name == *name && !matches!(s.phase(), Phase::Closed))
}

/// A peer told us which nodes it is connected to: remember their addresses and, in a full
/// mesh, connect to those we are not connected to.
pub(crate) fn learned_peers(node: &Arc<NodeInner>, peers: Vec<(String, String)>) {
    for (name, addr) in peers {
        if name == *node.name || !crate::handshake::valid_node_name(&name) {
            continue;
        }
        node.addresses
            .lock()
            .entry(Arc::from(name.as_str()))
            .or_insert(addr);
        if node.config.mesh {
            let _ = node.session_for(crate::remote::node_pid(&name), true);
        }
    }
}
