//! A small synchronous rtnetlink client (links, addresses, routes, veth
//! pairs and bridges) over `netlink-packet-route` and `netlink-sys`.
