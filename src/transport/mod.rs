//! I/O shells driven by the daemon's mio loop: sockets, buffers and reconnects around pure protocol cores.

pub mod ubus;
