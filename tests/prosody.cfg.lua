-- Prosody for the XMPP connection-request tests: loopback only, STARTTLS
-- required, no daemonizing; @DIR@ and @PORT@ are filled in at test time.
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
daemonize = false
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; }
modules_disabled = { "s2s"; "posix"; }
c2s_ports = { @PORT@ }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
legacy_ssl_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = true
-- Accounts are files of the data directory written by the test; SCRAM-SHA-1
-- and PLAIN are both offered.
authentication = "internal_plain"
storage = "internal"
log = { { levels = { min = "info" }, to = "file", filename = "@DIR@/prosody.log" } }
VirtualHost "localhost"
  ssl = { certificate = "@DIR@/server.pem"; key = "@DIR@/server.key"; }
