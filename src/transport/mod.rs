//! Network transports driven from the daemon's mio loop: ACS HTTP client, connection-request server.
