//! The egress rules of each sandbox, in an nftables table the enforcer
//! owns on the host side, out of the workload's reach.
