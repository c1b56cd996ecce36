//! The run-time caches the daemon fills from ubus replies for the data model (Wi-Fi, netifd's interfaces), and the refresh that asks for them.
//!
//! A refresh is a handful of non-blocking ubus calls; the replies land in
//! the cache between two steps of the loop, and providers only read it, so
//! a GetParameterValues never waits on ubus.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::datamodel::dhcpv6::Dhcpv6State;
use crate::datamodel::netifd::NetState;
use crate::datamodel::wifi::WifiState;
use crate::transport::ubus::{RequestId, UbusClient};
use crate::wire::blobmsg::Value;
use crate::wire::ubus::UbusStatus;

/// What the last ubus replies said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeState {
    pub wifi: WifiState,
    pub net: NetState,
    /// Unix time of the last `network.interface dump` reply (prefix lifetimes count from it).
    pub net_at: i64,
    pub dhcpv6: Dhcpv6State,
}

/// The cache shared by the daemon (writer) and the providers (readers).
pub type SharedRuntime = Rc<RefCell<RuntimeState>>;

/// What a request in flight is about.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Asked {
    WirelessStatus,
    InterfaceDump,
    Ipv6Leases,
    IwInfo(String),
    Clients(String),
}

/// Asks ubus for the run-time state and feeds the replies into the cache:
/// `network.interface dump`, odhcpd's `dhcp ipv6leases` and
/// `network.wireless status`, then `iwinfo info`
/// and `hostapd.<if> get_clients` for each Wi-Fi interface the latter names.
/// One refresh runs at a time.
#[derive(Debug, Default)]
pub struct RuntimeRefresh {
    pending: HashMap<RequestId, Asked>,
}

impl RuntimeRefresh {
    /// Starts a refresh unless one is still in flight.
    pub fn start(&mut self, ubus: &mut UbusClient, now: Instant) {
        if !self.pending.is_empty() {
            return;
        }
        for (object, method, asked) in [
            ("network.interface", "dump", Asked::InterfaceDump),
            ("dhcp", "ipv6leases", Asked::Ipv6Leases),
            ("network.wireless", "status", Asked::WirelessStatus),
        ] {
            match ubus.request_call(object, method, Vec::new(), now) {
                Ok(request) => {
                    self.pending.insert(request, asked);
                }
                Err(e) => log::debug!("ubus: cannot call {object} {method}: {e}"),
            }
        }
    }

    /// Forgets the requests of a connection that is gone.
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Takes one call result; results of other requests are ignored.
    pub fn on_result(
        &mut self,
        ubus: &mut UbusClient,
        state: &SharedRuntime,
        request: RequestId,
        object: &str,
        result: Result<Vec<(String, Value)>, UbusStatus>,
        now: Instant,
    ) {
        let Some(asked) = self.pending.remove(&request) else {
            return;
        };
        let reply = result.as_deref().ok();
        if let Err(status) = &result {
            log::debug!("ubus: {object}: {status}");
        }
        match asked {
            Asked::InterfaceDump => {
                let mut state = state.borrow_mut();
                state.net.on_dump(reply.unwrap_or(&[]));
                state.net_at = crate::clock::unix_now();
            }
            Asked::Ipv6Leases => state
                .borrow_mut()
                .dhcpv6
                .on_leases(reply, crate::clock::unix_now()),
            Asked::IwInfo(ifname) => state.borrow_mut().wifi.on_iwinfo(&ifname, reply),
            Asked::Clients(ifname) => state.borrow_mut().wifi.on_clients(&ifname, reply),
            Asked::WirelessStatus => {
                let interfaces = state
                    .borrow_mut()
                    .wifi
                    .on_wireless_status(reply.unwrap_or(&[]));
                for ifname in interfaces {
                    let device = vec![("device".to_owned(), Value::String(ifname.clone()))];
                    let hostapd = format!("hostapd.{ifname}");
                    for (object, method, args, asked) in [
                        ("iwinfo", "info", device, Asked::IwInfo(ifname.clone())),
                        (
                            hostapd.as_str(),
                            "get_clients",
                            Vec::new(),
                            Asked::Clients(ifname.clone()),
                        ),
                    ] {
                        match ubus.request_call(object, method, args, now) {
                            Ok(request) => {
                                self.pending.insert(request, asked);
                            }
                            Err(e) => log::debug!("ubus: cannot call {object} {method}: {e}"),
                        }
                    }
                }
            }
        }
    }
}
