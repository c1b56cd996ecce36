pub mod ubus_broker;
